"""Queries for API keys and personal access tokens. No commits: services own transactions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import ApiKey, PersonalAccessToken


async def api_key_by_secret_hash(session: AsyncSession, secret_hash: str) -> ApiKey | None:
    # An exact match on the unique index: the lookup reveals nothing about near-miss keys.
    return await session.scalar(sa_select(ApiKey).where(ApiKey.secret_hash == secret_hash))


async def touch_api_key(session: AsyncSession, key_id: int, now: datetime, not_since: datetime) -> None:
    """Set last_used_at unless it was set after `not_since` (spares a write on every request)."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < not_since))
        .values(last_used_at=now)
    )


async def touch_token(session: AsyncSession, token_id: int, now: datetime, not_since: datetime) -> None:
    await session.execute(
        update(PersonalAccessToken)
        .where(
            PersonalAccessToken.id == token_id,
            or_(PersonalAccessToken.last_used_at.is_(None), PersonalAccessToken.last_used_at < not_since),
        )
        .values(last_used_at=now)
    )
