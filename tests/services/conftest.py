"""Fixtures for service tests: the real services over a freshly migrated database file (real commits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import ManualClock
from gatewayd.services.container import Services, build_services
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade
from tests.store.databases import backends, fresh_database


@dataclass(frozen=True)
class Stack:
    url: str
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    services: Services


@pytest.fixture(params=backends())
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with fresh_database(request.param, tmp_path) as url:
        await upgrade(url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        clock = ManualClock()
        try:
            yield Stack(url, sessions, clock, build_services(sessions, clock))
        finally:
            await engine.dispose()


@pytest.fixture
def services(stack: Stack) -> Services:
    return stack.services
