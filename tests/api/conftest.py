"""Fixtures for API tests: the real app over real services on a freshly migrated SQLite file."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.openapi import build_document
from api.settings import ApiSettings
from gatewayd.clock import ManualClock
from gatewayd.services.container import Services, build_services
from gatewayd.services.gateway import ReceivedSms
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade
from tests.api.contract import ApiClient, Contract

PASSWORD = "correct horse battery"
ALL_PERMISSIONS = ["numbers.read", "numbers.lock", "messages.read", "webhooks.receive"]
ACME_MESSAGES = 25
FIRST_RECEIVED = datetime(2026, 5, 11, 14, 0, tzinfo=UTC)
SEEDED_AT = datetime(2026, 5, 11, 13, 0, tzinfo=UTC)
NOW = datetime(2026, 5, 11, 15, 0, tzinfo=UTC)

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@dataclass(frozen=True)
class Seeded:
    """What the seeded database holds, by the names tests use."""

    acme_key: str  # all permissions
    acme_numbers_key: str  # numbers.read only
    acme_messages_key: str  # messages.read only
    acme_token: str  # personal access token of acme's owner (team "ops")
    globex_key: str
    acme_sim: int  # in acme's team "ops", ACME_MESSAGES inbound messages
    acme_empty_sim: int  # in acme's team "ops", no messages
    globex_sim: int


@dataclass(frozen=True)
class World:
    services: Services
    clock: ManualClock
    seeded: Seeded


async def _sim(services: Services, imei: str, iccid: str, number: str) -> int:
    modem_id = await services.gateway.modem_seen(imei=imei, port=f"/dev/ttyUSB{imei[-1]}", usb_path=None,
                                                 manufacturer="Quectel", model="EC25", revision=None)
    return await services.gateway.sim_seen(modem_id=modem_id, iccid=iccid, imsi=None, phone_number=number,
                                           operator="Vodafone")


async def _organization(services: Services, name: str) -> str:
    await services.admin.create_organization(name)
    await services.admin.create_team(name, "ops")
    email = f"owner@{name}.example"
    await services.admin.create_user(name, email=email, name=f"{name} owner", password=PASSWORD, team="ops")
    return email


async def _key(services: Services, org: str, email: str, permissions: list[str]) -> str:
    _, plain = await services.admin.create_api_key(org=org, user_email=email, name="test",
                                                   permissions=permissions)
    return plain


async def _messages(services: Services, sim_id: int, count: int, prefix: str) -> None:
    await services.gateway.store_received(sim_id, [
        ReceivedSms(identity_key=f"{prefix}-{n}", sender=f"+4915100000{n:03d}", text=f"{prefix} message {n}",
                    data=None, encoding="gsm7", received_at=FIRST_RECEIVED + timedelta(minutes=n),
                    concat=None)
        for n in range(count)
    ])


async def seed(services: Services) -> Seeded:
    acme_email = await _organization(services, "acme")
    globex_email = await _organization(services, "globex")
    acme_sim = await _sim(services, "860000000000001", "8949000000000000001", "+4915112345001")
    acme_empty_sim = await _sim(services, "860000000000002", "8949000000000000002", "+4915112345002")
    globex_sim = await _sim(services, "860000000000003", "8949000000000000003", "+4915112345003")
    for sim_id in (acme_sim, acme_empty_sim):
        await services.admin.assign_sims(org="acme", team="ops", sim_id=sim_id)
    await services.admin.assign_sims(org="globex", team="ops", sim_id=globex_sim)
    await _messages(services, acme_sim, ACME_MESSAGES, "acme")
    await _messages(services, globex_sim, 3, "globex")
    user = await services.auth.verify_credentials(acme_email, PASSWORD)
    assert user is not None
    _, acme_token = await services.auth.issue_personal_token(user.id, "test")
    return Seeded(
        acme_key=await _key(services, "acme", acme_email, ALL_PERMISSIONS),
        acme_numbers_key=await _key(services, "acme", acme_email, ["numbers.read"]),
        acme_messages_key=await _key(services, "acme", acme_email, ["messages.read"]),
        acme_token=acme_token,
        globex_key=await _key(services, "globex", globex_email, ALL_PERMISSIONS),
        acme_sim=acme_sim, acme_empty_sim=acme_empty_sim, globex_sim=globex_sim,
    )


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract(build_document(ApiSettings()))


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """Migrate and seed once per session (argon2 hashing and migrations cost ~1 s); tests get copies."""
    path = tmp_path_factory.mktemp("seed") / "api.db"

    async def build() -> Seeded:
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        engine = create_engine(url)
        try:
            return await seed(build_services(session_factory(engine), ManualClock(SEEDED_AT)))
        finally:
            await engine.dispose()  # checkpoints the WAL into the main file, so one file is the database

    return path, asyncio.run(build())


@pytest.fixture
async def world(seeded_database: tuple[Path, Seeded], tmp_path: Path) -> AsyncIterator[World]:
    template, seeded = seeded_database
    copy = tmp_path / "api.db"
    shutil.copyfile(template, copy)
    engine = create_engine(f"sqlite+aiosqlite:///{copy}")
    clock = ManualClock(NOW)
    try:
        yield World(build_services(session_factory(engine), clock), clock, seeded)
    finally:
        await engine.dispose()


@pytest.fixture
async def api(world: World, contract: Contract, aiohttp_client: ClientFactory) -> ApiClient:
    app = create_app(world.services, ApiSettings(), clock=world.clock)
    return ApiClient(await aiohttp_client(app), contract)
