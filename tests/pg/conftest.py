"""Fixtures for tests that need PostgreSQL itself (LISTEN/NOTIFY, several processes on one database).

They skip without SIMRELAY_TEST_PG, except under CI=true, where a missing server is a failure: CI promises
the suite ran against PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatewayd.store.migrate import upgrade
from tests.store.databases import PG_ENV, fresh_database


def require_postgres() -> None:
    if os.environ.get(PG_ENV):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests cannot run")
    pytest.skip(f"{PG_ENV} is not set (a postgresql+asyncpg:// URL of a server)")


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this test."""
    require_postgres()
    async with fresh_database("postgresql", tmp_path) as url:
        await upgrade(url)
        yield url
