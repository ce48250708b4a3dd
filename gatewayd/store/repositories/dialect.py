"""The dialect-specific INSERT that both our databases understand (ON CONFLICT ... RETURNING).

Holds no state; repositories pick the construct from the session's live connection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def upsert_insert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` with `on_conflict_do_nothing/_update` for the session's dialect (SQLite, PostgreSQL)."""
    name = (await session.connection()).dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect for upserts: {name!r}")
