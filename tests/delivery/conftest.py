"""Fixtures for webhook delivery tests: real services on a migrated SQLite file, a real aiohttp receiver
that checks every signature with the secret the service returned, and a ManualClock for schedules."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import ManualClock
from gatewayd.delivery.destinations import DestinationPolicy
from gatewayd.delivery.webhook_sender import SenderSettings, WebhookPoster, WebhookSender
from gatewayd.events import LocalEventBus
from gatewayd.services.container import Services, build_services
from gatewayd.services.gateway import ReceivedSms
from gatewayd.services.views import Principal
from gatewayd.services.webhooks import IntegrationInput, WebhookOptions
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade
from tests.services.world import ALL, PASSWORD, physical_sim, principal_for_key

START = datetime(2026, 5, 11, 14, 0, tzinfo=UTC)
OWNER = "owner@acme.example"
PERMISSIVE = DestinationPolicy(allow_private_networks=True, allow_http=True)


@dataclass
class Receiver:
    """A real HTTP endpoint. `statuses` is consumed one per request (then `default_status`)."""

    secrets: dict[str, str] = field(default_factory=dict)  # path → secret to verify with
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    hang: asyncio.Event | None = None  # when set on a path "/slow", requests wait for it
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        secret = self.secrets[request.path]
        expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        assert request.headers["X-Simrelay-Signature"] == expected, "bad signature"
        body = json.loads(raw)
        assert request.headers["X-Simrelay-Delivery"] == body["event_id"]
        assert request.headers["X-Simrelay-Event"] == body["event"]
        if request.path == "/slow" and self.hang is not None:
            await self.hang.wait()
        status = self.statuses.pop(0) if self.statuses else self.default_status
        async with self.arrived:
            self.received.append(
                {"path": request.path, "status": status, "body": body, "headers": dict(request.headers)}
            )
            self.arrived.notify_all()
        return web.Response(status=status, text=f"answer {status}")

    def delivered(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [r for r in self.received if r["path"] == path and 200 <= r["status"] < 300]

    async def wait_for(self, count: int, path: str = "/hook", timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s), self.arrived:
            await self.arrived.wait_for(lambda: len(self.delivered(path)) >= count)


@dataclass
class Rig:
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    services: Services
    options: WebhookOptions
    receiver: Receiver
    key: Principal
    team_id: int
    sim_id: int
    url: str
    bus: LocalEventBus
    posters: list[WebhookPoster] = field(default_factory=list)

    def sender(self, *, woken_by_bus: bool = False, **settings: Any) -> WebhookSender:
        poster = WebhookPoster(self.options.policy)
        poster.open()
        self.posters.append(poster)
        return WebhookSender(
            self.sessions,
            self.clock,
            poster,
            self.services.webhooks.secret_box.open,
            SenderSettings(**settings),
            bus=self.bus if woken_by_bus else None,
        )

    async def integration(
        self, path: str = "/hook", *, retry_count: int = 3, timeout_s: int = 5, mode: str = "always"
    ) -> int:
        view, secret = await self.services.webhooks.create(
            self.key,
            IntegrationInput(
                name=f"hook {path}",
                url=f"{self.receiver.base_url}{path}",
                headers={"X-Customer": "acme"},
                timeout_seconds=timeout_s,
                retry_count=retry_count,
            ),
        )
        self.receiver.secrets[path] = secret
        await self.services.webhooks.create_mapping(
            self.key, view.id, team_id=self.team_id, forwarding_mode=mode
        )
        return view.id

    async def inbound(self, count: int, prefix: str = "sms") -> list[int]:
        return await self.services.gateway.store_received(
            self.sim_id,
            [
                ReceivedSms(
                    identity_key=f"{prefix}-{n}",
                    sender="+4915100000001",
                    text=f"{prefix} text {n}",
                    data=None,
                    encoding="gsm7",
                    received_at=START,
                    concat=None,
                )
                for n in range(count)
            ],
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as made:
        yield made


@contextlib.asynccontextmanager
async def make_rig(tmp_path: Path, url: str | None = None) -> AsyncIterator[Rig]:
    """The rig as a context manager, for test modules outside this directory (`url`: another database)."""
    url = url or f"sqlite+aiosqlite:///{tmp_path / 'simrelay.db'}"
    await upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    clock = ManualClock(START)
    options = WebhookOptions(Fernet.generate_key(), PERMISSIVE)
    bus = LocalEventBus()  # the services publish on it after each commit, as in the runtime
    services = build_services(sessions, clock, bus=bus, webhooks=options)
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.base_url = f"http://127.0.0.1:{port}"
    try:
        await services.admin.create_organization("acme")
        team_id = (await services.admin.create_team("acme", "ops")).id
        await services.admin.create_user("acme", email=OWNER, name="Owner", password=PASSWORD, team="ops")
        key = await principal_for_key(services, "acme", OWNER, ALL)
        sim_id = await physical_sim(services, "860000000000001", "8944000000000000001", "+447700900100")
        await services.admin.assign_sims(org="acme", team="ops", sim_id=sim_id)
        rig = Rig(sessions, clock, services, options, receiver, key, team_id, sim_id, url, bus)
        yield rig
        for poster in rig.posters:
            await poster.close()
    finally:
        if receiver.hang is not None:
            receiver.hang.set()
        await runner.cleanup()
        await engine.dispose()
