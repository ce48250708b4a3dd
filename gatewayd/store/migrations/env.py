"""Alembic environment: runs revisions on a connection handed over by gatewayd.store.migrate.

When run by the `alembic` command instead, it opens its own async engine from `sqlalchemy.url`.
It must not import services or anything above the store.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from gatewayd.store.engine import create_engine
from gatewayd.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table, a no-op on PostgreSQL.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    handed_over: Connection | None = config.attributes.get("connection")
    url = config.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        _run_offline(url)
    elif handed_over is not None:
        _run_on(handed_over)
    else:
        asyncio.run(_run_with_own_engine(url))


_main()
