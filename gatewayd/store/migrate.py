"""Programmatic Alembic: `upgrade(url)` brings a database to the newest schema.

The Alembic `Config` is built in code from this package's path, so it works from an installed wheel
without an alembic.ini. Used by `simrelay db upgrade` and by `serve` at start.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url

from gatewayd.store.engine import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic Config pointing at our scripts and `url`, with no file behind it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read "%" in a password as a reference.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite database file so a fresh install can start."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


async def upgrade(url: str, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` on `url` (one transaction on PostgreSQL)."""
    ensure_sqlite_directory(url)
    engine = create_engine(url)
    config = alembic_config(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_on, config, revision)
            await connection.commit()
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


# Any fixed key: several gateway and API processes starting at once on one PostgreSQL take turns to
# migrate (the lock is held to the end of the migrating transaction; the later ones find nothing to do).
MIGRATION_ADVISORY_LOCK = 0x51_4D_52_4C_41_59


def _upgrade_on(connection: Connection, config: Config, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_ADVISORY_LOCK})")
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
