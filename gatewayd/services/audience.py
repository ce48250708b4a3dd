"""Who may see a SIM's live events right now: organisation, team and lock holder. Read-only.

A SIM assigned without a team is seen by every user of the organisation, one with a team by that team's
members (the rule of services/sims.py for user tokens). While a user holds the SIM's lock, its messages go to
the holder alone; lock and device events still go to everyone who sees the SIM.
A lock row whose `expires_at` has passed counts as absent, as in the lock service (repositories/locks.py).
`of_sim_recent` may answer from a short per-SIM memory (see its docstring for how stale it can be).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import SimAssignment, TeamMembership, User
from gatewayd.store.models_locks import SimLock

# How long `of_sim_recent` may reuse an answer: the bound on how late a team membership or SIM assignment
# change reaches the realtime feed (lock changes forget the SIM at once, see RealtimeFanout).
RECENT_AUDIENCE_TTL_S: Final = 1.0
# Past this many remembered SIMs, answers past their TTL are dropped when a new one is stored.
_PRUNE_ABOVE: Final = 4096


@dataclass(frozen=True)
class SimAudience:
    viewers: frozenset[int]  # users who may see the SIM
    lock_holder: int | None
    lock_expires_at: datetime | None = None

    @property
    def message_readers(self) -> frozenset[int]:
        """Who receives the SIM's messages now: the lock holder alone while the lock is held."""
        if self.lock_holder is None:
            return self.viewers
        return self.viewers & {self.lock_holder}


@dataclass(frozen=True)
class _Remembered:
    audience: SimAudience
    read_at: float  # clock.monotonic() when it was read from the store


class AudienceService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        recent_ttl_s: float = RECENT_AUDIENCE_TTL_S,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._recent_ttl_s = recent_ttl_s
        self._recent: dict[int, _Remembered] = {}
        self._forgotten: dict[int, int] = {}  # SIM → how many times forget() was called

    async def of_sim(self, sim_id: int) -> SimAudience:
        """Read now from the store."""
        async with read_transaction(self._sessions) as session:
            viewers = await self._viewers(session, sim_id)
            holder, expires_at = await self._lock_of(session, sim_id)
        return SimAudience(frozenset(viewers), holder, expires_at)

    async def of_sim_recent(self, sim_id: int) -> SimAudience:
        """`of_sim`, reused for up to `recent_ttl_s` (the realtime feed asks once per event: issue 3's
        ingest profile showed this query per received SMS).

        Never reused: past the TTL, after `forget(sim_id)`, or once the remembered lock has expired (the
        lock may have been extended; the team must not see the holder's messages meanwhile). So a lock
        change is exact when its event reaches `forget` before the SIM's next message event; a team
        membership or SIM assignment change shows at most `recent_ttl_s` late.
        """
        remembered = self._recent.get(sim_id)
        if remembered is not None and self._still_valid(remembered):
            return remembered.audience
        generation = self._forgotten.get(sim_id, 0)
        read_at = self._clock.monotonic()
        audience = await self.of_sim(sim_id)
        if self._forgotten.get(sim_id, 0) == generation:  # not forgotten while it was being read
            self._remember(sim_id, _Remembered(audience, read_at))
        return audience

    def forget(self, sim_id: int) -> None:
        """The SIM's lock (or anything else about its audience) changed: read it afresh next time."""
        self._recent.pop(sim_id, None)
        self._forgotten[sim_id] = self._forgotten.get(sim_id, 0) + 1

    def _still_valid(self, remembered: _Remembered) -> bool:
        if self._clock.monotonic() - remembered.read_at >= self._recent_ttl_s:
            return False
        expires_at = remembered.audience.lock_expires_at
        return expires_at is None or expires_at > self._clock.now()

    def _remember(self, sim_id: int, remembered: _Remembered) -> None:
        if len(self._recent) >= _PRUNE_ABOVE:
            self._recent = {sim: kept for sim, kept in self._recent.items() if self._still_valid(kept)}
        self._recent[sim_id] = remembered

    async def of_device(self, organization_id: int, sim_ids: Sequence[int]) -> frozenset[int]:
        """Users told about a BYOS phone: those who see one of its SIMs, else everyone of its organisation."""
        async with read_transaction(self._sessions) as session:
            users: set[int] = set()
            for sim_id in sim_ids:
                users |= await self._viewers(session, sim_id, organization_id)
            if not sim_ids:
                rows = await session.scalars(select(User.id).where(User.organization_id == organization_id))
                users = set(rows)
        return frozenset(users)

    async def _viewers(
        self, session: AsyncSession, sim_id: int, organization_id: int | None = None
    ) -> set[int]:
        assignments = select(SimAssignment.organization_id, SimAssignment.team_id).where(
            SimAssignment.hosted_sim_id == sim_id
        )
        if organization_id is not None:
            assignments = assignments.where(SimAssignment.organization_id == organization_id)
        users: set[int] = set()
        for org_id, team_id in (await session.execute(assignments)).all():
            query = select(User.id).where(User.organization_id == org_id)
            if team_id is not None:
                query = query.join(TeamMembership, TeamMembership.user_id == User.id).where(
                    TeamMembership.team_id == team_id
                )
            users.update(await session.scalars(query))
        return users

    async def _lock_of(self, session: AsyncSession, sim_id: int) -> tuple[int | None, datetime | None]:
        """The live lock's holder and expiry, or (None, None)."""
        live = (SimLock.hosted_sim_id == sim_id, SimLock.expires_at > self._clock.now())
        row = (await session.execute(select(SimLock.user_id, SimLock.expires_at).where(*live))).first()
        return (int(row.user_id), row.expires_at) if row is not None else (None, None)
