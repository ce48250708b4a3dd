"""Who may see a SIM's live events right now: organisation, team and lock holder. Read-only.

A SIM assigned without a team is seen by every user of the organisation, one with a team by that team's
members (the rule of services/sims.py for user tokens). While a user holds the SIM's lock, its messages go to
the holder alone; lock and device events still go to everyone who sees the SIM.
The lock table belongs to the lock service (issue 5); until it lands this module finds it by shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, column, inspect, select, table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import SimAssignment, TeamMembership, User
from gatewayd.store.types import UtcDateTime

# Tables the lock service may create, and the columns this query needs from it.
_LOCK_TABLE_CANDIDATES = ("sim_locks", "locks")
_LOCK_COLUMNS = {"hosted_sim_id", "user_id", "expires_at"}


@dataclass(frozen=True)
class SimAudience:
    viewers: frozenset[int]  # users who may see the SIM
    lock_holder: int | None

    @property
    def message_readers(self) -> frozenset[int]:
        """Who receives the SIM's messages now: the lock holder alone while the lock is held."""
        if self.lock_holder is None:
            return self.viewers
        return self.viewers & {self.lock_holder}


@dataclass(frozen=True)
class _LockTable:
    name: str
    has_released_at: bool


def _find_lock_table(connection: Connection) -> _LockTable | None:
    inspector = inspect(connection)
    for name in _LOCK_TABLE_CANDIDATES:
        if inspector.has_table(name):
            columns = {described["name"] for described in inspector.get_columns(name)}
            if columns >= _LOCK_COLUMNS:
                return _LockTable(name, "released_at" in columns)
    return None


class AudienceService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._lock_table: _LockTable | None = None

    async def of_sim(self, sim_id: int) -> SimAudience:
        async with read_transaction(self._sessions) as session:
            viewers = await self._viewers(session, sim_id)
            holder = await self._lock_holder(session, sim_id)
        return SimAudience(frozenset(viewers), holder)

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

    async def _lock_holder(self, session: AsyncSession, sim_id: int) -> int | None:
        if self._lock_table is None:
            connection = await session.connection()
            self._lock_table = await connection.run_sync(_find_lock_table)
            if self._lock_table is None:
                return None  # no lock service yet: nothing is locked
        found = self._lock_table
        # A lightweight table clause (not a mapped model): the lock service owns the real one. The typed
        # expires_at column binds `now` exactly as UtcDateTime stores it on each dialect.
        locks = table(found.name, column("hosted_sim_id", Integer()), column("user_id", Integer()),
                      column("expires_at", UtcDateTime()), column("released_at", UtcDateTime()))
        query = (
            select(locks.c.user_id)
            .where(locks.c.hosted_sim_id == sim_id, locks.c.expires_at > self._clock.now())
            .order_by(locks.c.expires_at.desc())
            .limit(1)
        )
        if found.has_released_at:
            query = query.where(locks.c.released_at.is_(None))
        holder = (await session.execute(query)).scalar_one_or_none()
        return int(holder) if holder is not None else None
