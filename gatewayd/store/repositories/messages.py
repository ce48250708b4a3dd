"""Queries for messages: the deduplicating inbound insert and the newest-first page. No commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import MESSAGE_NEWEST_KEY, Message
from gatewayd.store.repositories.dialect import upsert_insert


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
    return await session.scalar(select(func.count(Message.id)).where(Message.hosted_sim_id == sim_id)) or 0


async def page_for_sim(session: AsyncSession, sim_id: int, *, offset: int, limit: int) -> list[Message]:
    """Newest first: coalesce(received_at, created_at) desc, id desc (ix_messages_sim_newest order)."""
    rows = await session.scalars(
        select(Message)
        .where(Message.hosted_sim_id == sim_id)
        .order_by(MESSAGE_NEWEST_KEY.desc(), Message.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows)
