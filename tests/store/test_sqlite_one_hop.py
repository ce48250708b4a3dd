"""The one-trip statement path of store/sqlite_one_hop.py behaves as SQLAlchemy's own aiosqlite adapter
for everything the store relies on: rows and column names, RETURNING, rowcount, lastrowid, executemany,
errors as SQLAlchemy exceptions (the connection still usable after one), and one trip per statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gatewayd.store.engine import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one_hop.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INT)"))
    yield engine
    await engine.dispose()


async def test_rows_returning_rowcount_and_lastrowid(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(
            text("INSERT INTO t (name, n) VALUES ('a', 1) RETURNING id, name"))
        assert list(inserted.keys()) == ["id", "name"] and inserted.all() == [(1, "a")]
        plain = await connection.exec_driver_sql("INSERT INTO t (name, n) VALUES ('b', 2)")
        assert plain.lastrowid == 2
        many = await connection.execute(text("INSERT INTO t (name, n) VALUES (:name, :n)"),
                                        [{"name": f"m{k}", "n": k} for k in range(5)])
        assert many.rowcount == 5
        updated = await connection.execute(text("UPDATE t SET n = n + 10 WHERE n < 3"))
        assert updated.rowcount == 5  # a 1, b 2, m0 0, m1 1, m2 2
        deleted = await connection.execute(text("DELETE FROM t WHERE n >= 10 RETURNING name"))
        assert sorted(deleted.scalars()) == ["a", "b", "m0", "m1", "m2"]
        rows = (await connection.execute(text("SELECT name, n FROM t ORDER BY id"))).all()
    assert rows == [("m3", 3), ("m4", 4)]


async def test_an_error_is_sqlalchemys_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name, n) VALUES ('dup', 1)"))
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO t (name, n) VALUES ('dup', 2)"))
        await connection.rollback()
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        await connection.execute(text("INSERT INTO t (name, n) VALUES ('dup', 3)"))
        await connection.commit()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT n FROM t WHERE name = 'dup'"))).scalar_one() == 3


async def test_a_statement_takes_one_trip_to_the_connection_thread(engine: AsyncEngine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    trips: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # connected and warmed up
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        rows = (await connection.execute(text("SELECT name FROM t"))).all()
        assert rows == [] and trips == ["run_statement"]  # the rollback at the end of the block is a trip too
