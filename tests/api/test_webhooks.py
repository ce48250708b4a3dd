"""Webhook routes over the real app: shapes checked against the OpenAPI document, the secret shown once
and usable by a real receiver, validation per the reference, organisation scoping."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from api.app import create_app
from api.settings import ApiSettings
from gatewayd.clock import ManualClock
from gatewayd.delivery.destinations import DestinationPolicy
from gatewayd.services.container import build_services
from gatewayd.services.webhooks import WebhookOptions
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import NOW, ClientFactory, Seeded
from tests.api.contract import ApiClient, Contract

HOOKS = "/api/webhook-integrations"


@pytest.fixture
async def hooks_api(
    seeded_database: tuple[Path, Seeded], tmp_path: Path, contract: Contract, aiohttp_client: ClientFactory
) -> AsyncIterator[tuple[ApiClient, Seeded]]:
    template, seeded = seeded_database
    copy = tmp_path / "api.db"
    shutil.copyfile(template, copy)
    engine = create_engine(f"sqlite+aiosqlite:///{copy}")
    options = WebhookOptions(
        Fernet.generate_key(), DestinationPolicy(allow_private_networks=True, allow_http=True)
    )
    clock = ManualClock(NOW)
    try:
        app = create_app(
            build_services(session_factory(engine), clock, webhooks=options), ApiSettings(), clock=clock
        )
        yield ApiClient(await aiohttp_client(app), contract), seeded
    finally:
        await engine.dispose()


@pytest.fixture
async def receiver(aiohttp_server) -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:  # type: ignore[no-untyped-def]
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        seen.append(request)
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = await aiohttp_server(app)
    yield str(server.make_url("/hook")), seen, bodies


async def test_create_test_and_log_with_the_secret_shown_once(hooks_api, receiver) -> None:  # type: ignore[no-untyped-def]
    api, seeded = hooks_api
    url, seen, bodies = receiver
    created = await api.call(
        "POST", HOOKS, seeded.acme_key, json={"name": "CRM", "url": url, "headers": {"X-Tenant": "7"}}
    )
    assert created.status == 201
    secret = created.body["data"]["secret"]
    assert len(secret) == 64
    hook = created.body["data"]["id"]
    shown = await api.get(f"{HOOKS}/{hook}", seeded.acme_key)
    assert "secret" not in shown.body["data"] and shown.body["data"]["mappings"] == []

    tested = await api.call("POST", f"{HOOKS}/{hook}/test", seeded.acme_key)
    assert tested.body["success"] is True and tested.body["http_status"] == 200
    assert tested.body["response_body"] == "thanks"
    (request,) = seen
    assert (
        request.headers["X-Simrelay-Signature"]
        == hmac.new(secret.encode(), bodies[0], hashlib.sha256).hexdigest()
    )
    assert request.headers["X-Simrelay-Event"] == "webhook.test" and request.headers["X-Tenant"] == "7"

    log = await api.get(f"{HOOKS}/{hook}/deliveries", seeded.acme_key)
    assert [(d["event"], d["status"]) for d in log.body["data"]] == [("webhook.test", "delivered")]

    regenerated = await api.call("POST", f"{HOOKS}/{hook}/regenerate-secret", seeded.acme_key)
    assert regenerated.body["data"]["secret"] not in (secret, None)


async def test_validation_follows_the_reference(hooks_api) -> None:  # type: ignore[no-untyped-def]
    api, seeded = hooks_api
    bad = await api.call(
        "POST",
        HOOKS,
        seeded.acme_key,
        json={"name": "x" * 256, "url": "ftp://example.com", "timeout_seconds": 0, "retry_count": 11},
    )
    assert bad.status == 422
    assert set(bad.body["errors"]) == {"name", "url", "timeout_seconds", "retry_count"}
    reserved = await api.call(
        "POST",
        HOOKS,
        seeded.acme_key,
        json={"name": "n", "url": "https://example.com/h", "headers": {"x-simrelay-signature": "forged"}},
    )
    assert reserved.status == 422 and "headers" in reserved.body["errors"]


async def test_mappings_and_organisation_scoping(hooks_api) -> None:  # type: ignore[no-untyped-def]
    api, seeded = hooks_api
    created = await api.call(
        "POST", HOOKS, seeded.acme_key, json={"name": "n", "url": "http://127.0.0.1:9/h"}
    )
    hook = created.body["data"]["id"]
    teams = await api.get("/api/user", seeded.acme_key)
    assert teams.status == 200
    missing = await api.call(
        "POST",
        f"{HOOKS}/{hook}/mappings",
        seeded.acme_key,
        json={"team_id": 999, "forwarding_mode": "always"},
    )
    assert missing.status == 422 and "team_id" in missing.body["errors"]
    assert (await api.get(f"{HOOKS}/{hook}", seeded.globex_key)).status == 404
    assert (await api.get(f"{HOOKS}/{hook}", seeded.acme_numbers_key)).status == 403
    listed = await api.get(HOOKS, seeded.globex_key)
    assert listed.body["data"] == []
    assert (await api.call("DELETE", f"{HOOKS}/{hook}", seeded.acme_key)).status == 200
    assert (await api.get(f"{HOOKS}/{hook}", seeded.acme_key)).status == 404
