"""Builds the async engine and session factory for SQLite (aiosqlite) or PostgreSQL (asyncpg).

Called from a lifecycle hook, never at import. SQLite gets WAL, foreign keys, a busy timeout and
`synchronous=FULL`, because an SMS is deleted from the modem right after our commit returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from gatewayd.store.sqlite_one_hop import OneHopDbapi

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option a write transaction sets so SQLite takes the write lock at BEGIN (see below).
SQLITE_BEGIN_OPTION = "simrelay_sqlite_begin"
# Session-factory info key of the SQLite writers' turn (see session_factory).
WRITER_TURN = "simrelay_writer_turn"


def create_engine(url: str) -> AsyncEngine:
    """An AsyncEngine for `url`; SQLite connections are tuned for durability and concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True)
    engine = create_async_engine(parsed, module=OneHopDbapi())  # one thread trip per statement, not four
    _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself: the driver's implicit BEGIN skips SELECTs (no snapshot).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY_SNAPSHOT
        # when another writer committed in between (sqlite.org/isolation.html); the busy timeout does
        # not apply. Writers therefore BEGIN IMMEDIATE and queue on the busy timeout instead.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (services return views built after commit).

    On SQLite the write transactions of one factory take turns in a FIFO asyncio lock before BEGIN
    IMMEDIATE: SQLite's busy handler sleeps and polls, so a writer waiting in it can lose every race to
    one that commits back to back (bench/webhooks: the webhook worker starved > 10 s behind ingest group
    commits). Other processes still meet the busy timeout.
    """
    info: dict[str, Any] = {WRITER_TURN: asyncio.Lock()} if engine.dialect.name == "sqlite" else {}
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


@asynccontextmanager
async def write_transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits on success; on SQLite it holds the write lock from BEGIN."""
    async with AsyncExitStack() as turn:
        writer_turn: asyncio.Lock | None = sessions.kw.get("info", {}).get(WRITER_TURN)
        if writer_turn is not None:
            await turn.enter_async_context(writer_turn)
        async with sessions() as session, session.begin():
            await session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            yield session


@asynccontextmanager
async def read_transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction (a consistent snapshot) for reads."""
    async with sessions() as session, session.begin():
        yield session
