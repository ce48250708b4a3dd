"""Queries for messages: the deduplicating inbound insert and the newest-first page. No commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import MESSAGE_NEWEST_KEY, Message, SimAssignment, TeamMembership, User
from gatewayd.store.models_locks import SimLock
from gatewayd.store.models_message_counts import SimMessageCount
from gatewayd.store.repositories.dialect import upsert_insert
from gatewayd.store.repositories.locks import LockRow


async def insert_unless_known(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert one inbound row; None when a row with its identity_key already exists (even one being
    committed by a concurrent transaction: the unique index arbitrates, ON CONFLICT DO NOTHING yields)."""
    insert = await upsert_insert(session, Message)
    statement = (
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=[Message.identity_key])
        .returning(Message.id)
    )
    new_id: int | None = (await session.execute(statement)).scalar_one_or_none()
    return new_id


async def count_for_sim(session: AsyncSession, sim_id: int) -> int:
    """Every message of the SIM, read from the trigger-kept counter (models_message_counts.py): one row,
    where COUNT(*) walked the SIM's whole index (~10-18 ms at 100,000 messages on SQLite)."""
    found = await session.scalar(select(SimMessageCount.total).where(SimMessageCount.hosted_sim_id == sim_id))
    return found or 0


@dataclass(frozen=True)
class PageHead:
    """What a page needs besides its rows, read in one statement: may the caller see the SIM, who holds
    its live lock (if anyone), and how many messages it has."""

    visible: bool
    total: int
    lock: LockRow | None


def _scalar(column: Any, sim_column: Any, sim_id: int, *conditions: Any) -> Any:
    return select(column).where(sim_column == sim_id, *conditions).scalar_subquery()


async def page_head(session: AsyncSession, sim_id: int, *, organization_id: int, user_id: int | None,
                    now: datetime) -> PageHead:
    """`user_id=None` sees the whole organisation (API keys); a user sees unassigned-team SIMs and their
    teams' (the rule of repositories/sims.visible_sims). One round trip of scalar subqueries, each an
    index lookup, instead of four statements (each costs ~0.6 ms of driver hops on aiosqlite)."""
    visibility = [SimAssignment.organization_id == organization_id]
    if user_id is not None:
        teams = select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
        visibility.append(or_(SimAssignment.team_id.is_(None), SimAssignment.team_id.in_(teams)))
    live = SimLock.expires_at > now
    lock_of = SimLock.hosted_sim_id
    row = (await session.execute(select(
        exists().where(SimAssignment.hosted_sim_id == sim_id, *visibility),
        _scalar(SimMessageCount.total, SimMessageCount.hosted_sim_id, sim_id),
        _scalar(SimLock.id, lock_of, sim_id, live),
        _scalar(SimLock.user_id, lock_of, sim_id, live),
        _scalar(SimLock.organization_id, lock_of, sim_id, live),
        _scalar(User.name, lock_of, sim_id, live, User.id == SimLock.user_id),
        _scalar(SimLock.expires_at, lock_of, sim_id, live),
    ))).one()
    visible, total, lock_id, holder, holder_org, holder_name, expires_at = row
    lock = (LockRow(lock_id, sim_id, holder, holder_org, holder_name, expires_at)
            if lock_id is not None else None)
    return PageHead(bool(visible), total or 0, lock)


# The columns a MessageView shows, read as plain rows (no ORM identity map or instance state per row).
PAGE_COLUMNS = (Message.id, Message.hosted_sim_id, Message.direction, Message.sender, Message.recipient,
                Message.text, Message.received_at, Message.sent_at, Message.status, Message.segments,
                Message.created_at, Message.encoding, Message.data)


async def page_rows(session: AsyncSession, sim_id: int, *, offset: int, limit: int) -> list[tuple[Any, ...]]:
    """PAGE_COLUMNS of one page, newest first (the order of ix_messages_sim_newest, walked backwards)."""
    rows = await session.execute(
        select(*PAGE_COLUMNS)
        .where(Message.hosted_sim_id == sim_id)
        .order_by(MESSAGE_NEWEST_KEY.desc(), Message.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [tuple(row) for row in rows]
