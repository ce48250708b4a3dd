"""Queries for SIM locks. No commits: services own transactions.

Every read takes `now` and treats a row with `expires_at <= now` as absent, so correctness never
waits for the sweep; the UNIQUE index on hosted_sim_id arbitrates concurrent acquisitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import User
from gatewayd.store.models_locks import SimLock
from gatewayd.store.repositories.dialect import upsert_insert


@dataclass(frozen=True)
class LockRow:
    id: int
    hosted_sim_id: int
    user_id: int
    organization_id: int
    user_name: str
    expires_at: datetime


@dataclass(frozen=True)
class EndedLock:
    """A lock row that was deleted (released or expired): enough to announce it."""

    id: int
    hosted_sim_id: int
    user_id: int


def _row(lock: SimLock, user_name: str) -> LockRow:
    return LockRow(lock.id, lock.hosted_sim_id, lock.user_id, lock.organization_id, user_name,
                   lock.expires_at)


async def live_lock(session: AsyncSession, sim_id: int, now: datetime) -> LockRow | None:
    found = (await session.execute(
        select(SimLock, User.name)
        .join(User, User.id == SimLock.user_id)
        .where(SimLock.hosted_sim_id == sim_id, SimLock.expires_at > now)
    )).first()
    return _row(found[0], found[1]) if found is not None else None


async def live_locked_sim_ids(session: AsyncSession, sim_ids: Sequence[int], now: datetime) -> set[int]:
    if not sim_ids:
        return set()
    rows = await session.scalars(
        select(SimLock.hosted_sim_id)
        .where(SimLock.hosted_sim_id.in_(list(sim_ids)), SimLock.expires_at > now)
    )
    return set(rows)


async def delete_expired(session: AsyncSession, now: datetime, sim_id: int | None = None) -> list[EndedLock]:
    """Delete expired rows (of one SIM, or all) and return them, so each end can be announced once."""
    statement = delete(SimLock).where(SimLock.expires_at <= now)
    if sim_id is not None:
        statement = statement.where(SimLock.hosted_sim_id == sim_id)
    rows = await session.execute(statement.returning(SimLock.id, SimLock.hosted_sim_id, SimLock.user_id))
    return [EndedLock(lock_id, hosted_sim_id, user_id) for lock_id, hosted_sim_id, user_id in rows]


async def insert_unless_held(
    session: AsyncSession, *, sim_id: int, user_id: int, organization_id: int, now: datetime,
    expires_at: datetime,
) -> int | None:
    """The new lock's id, or None when a row for the SIM exists (the unique index decides, even against
    a concurrent transaction that has not committed yet)."""
    insert = await upsert_insert(session, SimLock)
    statement = (
        insert.values(hosted_sim_id=sim_id, user_id=user_id, organization_id=organization_id,
                      acquired_at=now, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[SimLock.hosted_sim_id])
        .returning(SimLock.id)
    )
    new_id: int | None = (await session.execute(statement)).scalar_one_or_none()
    return new_id


async def extend(session: AsyncSession, lock_id: int, user_id: int, now: datetime,
                 expires_at: datetime) -> bool:
    """Move a live lock's expiry; False when it is no longer live or no longer this user's."""
    result = await session.execute(
        update(SimLock)
        .where(SimLock.id == lock_id, SimLock.user_id == user_id, SimLock.expires_at > now)
        .values(expires_at=expires_at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_lock(session: AsyncSession, lock_id: int) -> EndedLock | None:
    rows = (await session.execute(
        delete(SimLock).where(SimLock.id == lock_id)
        .returning(SimLock.id, SimLock.hosted_sim_id, SimLock.user_id)
    )).first()
    return EndedLock(rows[0], rows[1], rows[2]) if rows is not None else None
