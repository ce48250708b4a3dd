"""Migrations on a fresh database: they apply in one line to a single head, match the models exactly, and
re-run as a no-op."""

from __future__ import annotations

import warnings
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gatewayd.store.engine import create_engine
from gatewayd.store.migrate import alembic_config, current_revision, upgrade
from gatewayd.store.schema import Base

CORE_TABLES = {
    "organizations", "teams", "users", "team_memberships", "api_keys", "personal_access_tokens",
    "hosted_sims", "sim_assignments", "modems", "messages",
}  # fmt: skip


def single_head() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db")).get_heads()
    assert len(heads) == 1, f"migrations must form one line, found heads {heads}"
    return heads[0]


# Reflection cannot read expression indexes (SQLAlchemy warns and skips them), so these two are
# left out of the comparison and checked by name in the catalogue instead.
EXPRESSION_INDEXES = {"uq_users_email_lower", "ix_messages_sim_newest"}


def _outside_expression_indexes(obj: object, name: str | None, kind: str, *_: object) -> bool:
    return not (kind == "index" and name in EXPRESSION_INDEXES)


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": _outside_expression_indexes}
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified expression-based")
        return list(compare_metadata(context, Base.metadata))


def _index_names(connection: Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
    return set(connection.exec_driver_sql(query).scalars())


async def test_upgrade_creates_every_table_and_matches_the_models(empty_db_url: str) -> None:
    assert await current_revision(empty_db_url) is None
    await upgrade(empty_db_url)
    assert await current_revision(empty_db_url) == single_head()
    engine = create_engine(empty_db_url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            differences = await connection.run_sync(_differences)
            indexes = await connection.run_sync(_index_names)
    finally:
        await engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert tables >= CORE_TABLES
    assert differences == []
    assert indexes >= EXPRESSION_INDEXES


async def test_upgrade_twice_is_a_no_op(empty_db_url: str) -> None:
    await upgrade(empty_db_url)
    await upgrade(empty_db_url)
    assert await current_revision(empty_db_url) == single_head()


async def test_upgrade_creates_the_sqlite_directory(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "deeper" / "simrelay.db"
    await upgrade(f"sqlite+aiosqlite:///{database}")
    assert database.is_file()


async def test_sqlite_connections_are_tuned_for_durability(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tuned.db'}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        await engine.dispose()
    # synchronous 2 = FULL (sqlite.org/pragma.html#pragma_synchronous).
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 10_000}
