"""Who may see a SIM's live events right now: organisation, team and lock holder. Read-only.

A SIM assigned without a team is seen by every user of the organisation, one with a team by that team's
members (the rule of services/sims.py for user tokens). While a user holds the SIM's lock, its messages go to
the holder alone; lock and device events still go to everyone who sees the SIM.
A lock row whose `expires_at` has passed counts as absent, as in the lock service (repositories/locks.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import SimAssignment, TeamMembership, User
from gatewayd.store.models_locks import SimLock


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


class AudienceService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

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
        live = (SimLock.hosted_sim_id == sim_id, SimLock.expires_at > self._clock.now())
        holder = await session.scalar(select(SimLock.user_id).where(*live))
        return int(holder) if holder is not None else None
