"""SIM locks: acquire (new or extended by the holder), status, release, and the expiry sweep.

Exclusivity is the database's: a UNIQUE hosted_sim_id plus INSERT ... ON CONFLICT DO NOTHING, so it holds
across API processes. An expired row is absent to every query; the sweep only deletes such rows and
announces them. Events are published after commit, never from inside a transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Conflict, Forbidden, ValidationFailed
from gatewayd.events import EventBus, SimLocked, SimUnlocked
from gatewayd.services.sims import require_visible_sim
from gatewayd.services.views import Principal
from gatewayd.services.webhook_events import record_lock_taken, record_locks_ended
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.repositories import locks as lock_queries
from gatewayd.store.repositories.locks import EndedLock, LockRow

log = logging.getLogger(__name__)

DEFAULT_LOCK_TTL_S = 300
MAX_LOCK_TTL_S = 86_400
# A row seen as held can vanish (released) before we read it back; a few rounds settle any such race.
_ACQUIRE_ROUNDS = 5


@dataclass(frozen=True)
class LockView:
    id: int
    hosted_sim_id: int
    user_id: int
    user_name: str
    expires_at: datetime

    @property
    def lock_id(self) -> int:
        """The name the API and the events use for `id`."""
        return self.id


def _view(row: LockRow) -> LockView:
    return LockView(row.id, row.hosted_sim_id, row.user_id, row.user_name, row.expires_at)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def held_by_other(row: LockRow) -> Conflict:
    """The 409 naming who holds the SIM and until when (ENDPOINTS.md, lock routes)."""
    details: dict[str, Any] = {"status": "locked", "lock_id": row.id, "user_id": row.user_id,
                               "user_name": row.user_name, "expires_at": _iso(row.expires_at)}
    return Conflict(f"This SIM is locked by {row.user_name} until {details['expires_at']}.", details)


async def live_lock_for(session: AsyncSession, principal: Principal, sim_id: int,
                        now: datetime, *, for_update: bool = False) -> LockRow | None:
    """The SIM's live lock, after checking the caller may see the SIM (NotFound otherwise)."""
    await require_visible_sim(session, principal, sim_id, for_update=for_update)
    return await lock_queries.live_lock(session, sim_id, now)


class LockService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, bus: EventBus,
                 default_ttl_s: int = DEFAULT_LOCK_TTL_S) -> None:
        if not 1 <= default_ttl_s <= MAX_LOCK_TTL_S:
            raise ValueError(f"lock lifetime must be 1..{MAX_LOCK_TTL_S} s, got {default_ttl_s}")
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self.default_ttl_s = default_ttl_s

    async def acquire(self, principal: Principal, sim_id: int,
                      duration_s: int | None = None) -> tuple[LockView, bool]:
        """(the lock, True when new) — False when the caller already held it and it was extended.

        Conflict (with holder and expiry) when someone else holds it; NotFound for an invisible SIM.
        """
        ttl = self.default_ttl_s if duration_s is None else duration_s
        if not 1 <= ttl <= MAX_LOCK_TTL_S:
            raise ValidationFailed({"duration_seconds": [
                f"The duration seconds field must be between 1 and {MAX_LOCK_TTL_S}."]})
        now = self._clock.now()
        expires_at = now + timedelta(seconds=ttl)
        async with write_transaction(self._sessions) as session:
            # The SIM's row lock makes lock changes on one SIM take turns across API processes: under
            # contention on PostgreSQL, acquire otherwise lost the row to a concurrent release 5 times
            # running and answered 409 with no holder (seen at 32 connections cycling one SIM).
            await require_visible_sim(session, principal, sim_id, for_update=True)
            expired = await lock_queries.delete_expired(session, now, sim_id)
            lock, created = await self._take_or_extend(session, principal, sim_id, now, expires_at)
            # Webhook outbox rows in this same transaction (issue 6); an extension is not a new lock.
            await record_locks_ended(session, expired, reason="expired", now=now)
            if created:
                await record_lock_taken(session, lock, now)
        self._announce_expired(expired)
        # Also on extension: listeners learn the new expiry.
        self._bus.publish(SimLocked(sim_id, lock.id, lock.user_id, lock.user_name, lock.expires_at))
        return _view(lock), created

    async def _take_or_extend(self, session: AsyncSession, principal: Principal, sim_id: int,
                              now: datetime, expires_at: datetime) -> tuple[LockRow, bool]:
        for _ in range(_ACQUIRE_ROUNDS):
            new_id = await lock_queries.insert_unless_held(
                session, sim_id=sim_id, user_id=principal.user_id, organization_id=principal.organization_id,
                now=now, expires_at=expires_at)
            if new_id is not None:
                row = await lock_queries.live_lock(session, sim_id, now)
                assert row is not None and row.id == new_id, f"lock {new_id} vanished inside its transaction"
                return row, True
            row = await lock_queries.live_lock(session, sim_id, now)
            if row is None:
                continue  # released between our insert and our read: try again
            if row.user_id != principal.user_id:
                raise held_by_other(row)
            if await lock_queries.extend(session, row.id, principal.user_id, now, expires_at):
                return LockRow(row.id, row.hosted_sim_id, row.user_id, row.organization_id, row.user_name,
                               expires_at), False
        raise Conflict(f"SIM {sim_id} changed hands {_ACQUIRE_ROUNDS} times while locking; try again.")

    async def status(self, principal: Principal, sim_id: int) -> LockView | None:
        async with read_transaction(self._sessions) as session:
            row = await live_lock_for(session, principal, sim_id, self._clock.now())
        return _view(row) if row is not None else None

    async def release(self, principal: Principal, sim_id: int) -> None:
        """Idempotent: no live lock is success. Forbidden when another user holds it."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            row = await live_lock_for(session, principal, sim_id, now, for_update=True)  # turns: see acquire
            expired = await lock_queries.delete_expired(session, now, sim_id)
            ended = None
            if row is not None:
                if row.user_id != principal.user_id:
                    raise Forbidden(f"This SIM is locked by {row.user_name}; only they can release it.")
                ended = await lock_queries.delete_lock(session, row.id)
            await record_locks_ended(session, expired, reason="expired", now=now)  # webhook outbox
            if ended is not None and row is not None:
                await record_locks_ended(session, [ended], reason="released", now=now,
                                         user_name=row.user_name)
        self._announce_expired(expired)
        if ended is not None:
            self._bus.publish(SimUnlocked(ended.hosted_sim_id, ended.id, ended.user_id, "released"))

    async def sweep(self) -> int:
        """Delete every expired lock and announce each (reason `expired`); returns how many."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            expired = await lock_queries.delete_expired(session, now)
            await record_locks_ended(session, expired, reason="expired", now=now)  # webhook outbox
        self._announce_expired(expired)
        return len(expired)

    async def sweep_every(self, interval_s: float) -> None:
        """Run `sweep` forever, every `interval_s`; the runtime owns and cancels this task. Correctness
        never depends on it (expired rows are already absent), only the `expired` announcements do."""
        while True:
            try:
                await self.sweep()
            except Exception:  # a task boundary: a failed round must not end the sweeps
                log.exception("lock sweep failed; next round in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    def _announce_expired(self, expired: list[EndedLock]) -> None:
        for ended in expired:
            self._bus.publish(SimUnlocked(ended.hosted_sim_id, ended.id, ended.user_id, "expired"))
