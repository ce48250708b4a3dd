"""SQLAlchemy's aiosqlite adapter, with each statement run in ONE trip to aiosqlite's thread.

aiosqlite runs every call on its connection's own thread; SQLAlchemy's adapter spends four trips per
statement (make a cursor, execute, fetch all, close), each a queue hand-off plus a wake-up of the event
loop. Under load a trip costs ~0.25 ms of latency, and SQLite writers are serialised, so a lock/unlock
of ~7 statements spent most of its time in trips (bench/api: synchronous=OFF changed nothing). Here
execute, fetch and close run together in the thread and the cursor SQLAlchemy sees is the finished
result (description, rowcount, lastrowid, rows). Only the statement path changes: connecting,
transactions and errors stay SQLAlchemy's and aiosqlite's.

It relies on `aiosqlite.Connection._execute` (queue a callable for the connection's thread) and `_conn`
(the sqlite3 connection), private but the core of aiosqlite since its first releases; pyproject pins the
versions it is tested with and tests/store/test_sqlite_one_hop.py fails if they change shape.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


@dataclass(slots=True)
class FinishedCursor:
    """What a sqlite3 cursor knew once its statement had run; stands in for the aiosqlite cursor."""

    description: Any = None
    rowcount: int = -1
    lastrowid: int | None = None
    rows: list[Any] | None = None
    arraysize: int = 1

    def close(self) -> None:
        """Nothing to release: the real cursor was closed in the connection's thread."""


def run_statement(connection: sqlite3.Connection, operation: str, parameters: Any) -> FinishedCursor:
    """In aiosqlite's thread: execute, fetch every row (if the statement returns rows), close."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return FinishedCursor(cursor.description, cursor.rowcount, cursor.lastrowid, rows)
    finally:
        cursor.close()


def run_many(connection: sqlite3.Connection, operation: str,
             seq_of_parameters: Sequence[Any]) -> FinishedCursor:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return FinishedCursor(cursor.description, cursor.rowcount, cursor.lastrowid, None)
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False  # FinishedCursor.close is plain and free

    def _make_new_cursor(self, connection: Any) -> Any:
        return FinishedCursor()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._in_thread(run_statement, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._in_thread(run_many, operation, seq_of_parameters)

    async def _in_thread(self, run: Any, operation: Any, parameters: Any) -> FinishedCursor:
        """One trip: `run` on the connection's thread; its finished cursor becomes ours."""
        async with self._adapt_connection._execute_mutex:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            finished: FinishedCursor = await connection._execute(run, connection._conn, operation, parameters)
        self._cursor = finished  # type: ignore[assignment]
        self._rows = collections.deque(finished.rows or ())
        return finished


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The `module=` of create_async_engine for sqlite+aiosqlite URLs (see store/engine.py)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)
