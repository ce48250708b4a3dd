"""Schemathesis over every operation of the OpenAPI document that this app serves: generated requests
(deterministic, bounded) must never get a 5xx, an undocumented status, or a body that breaks the schema.

The app runs on a real port in its own thread and loop over a copy of the seeded database, because
Schemathesis calls it synchronously. The WebSocket upgrade routes are left to their own tests."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.openapi import build_document
from api.settings import ApiSettings
from gatewayd.clock import ManualClock
from gatewayd.services.container import build_services
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import NOW, Seeded

EXAMPLES_PER_OPERATION = 12
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
NOT_HERE = ("/app/{key}", "/reverb/app/{key}")  # WebSocket upgrades: tests/api/pusher


@contextmanager
def serving(database: Path) -> Iterator[tuple[str, set[tuple[str, str]], str]]:
    """(base URL, the (method, path template) pairs the app routes, a spare token for logout)."""
    loop = asyncio.new_event_loop()
    ready: dict[str, object] = {}
    started = threading.Event()

    async def start() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        clock = ManualClock(NOW)
        services = build_services(session_factory(engine), clock)
        user = await services.admin.create_user("acme", email="logout@acme.example", name="logout",
                                                password=None, team="ops")
        _, spare = await services.auth.issue_personal_token(user.id, "logout")
        app = create_app(services, ApiSettings(rate_limit_per_minute=1_000_000), clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        ready.update(url=f"http://127.0.0.1:{port}", runner=runner, engine=engine, spare=spare,
                     routes={(route.method, route.resource.canonical) for route in app.router.routes()
                             if route.resource is not None})
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield str(ready["url"]), ready["routes"], str(ready["spare"])  # type: ignore[misc]
    finally:
        async def stop() -> None:
            await ready["runner"].cleanup()  # type: ignore[attr-defined]
            await ready["engine"].dispose()  # type: ignore[attr-defined]

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def exerciser(operation: schemathesis.APIOperation, base_url: str, token: str,
              statuses: list[int]) -> Callable[[], None]:
    """A Hypothesis test of one operation: bounded, derandomised, every answer checked."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def exercise(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    return exercise


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_generated_requests_get_documented_answers(seeded_database: tuple[Path, Seeded],
                                                   tmp_path: Path) -> None:
    template, seeded = seeded_database
    database = tmp_path / "schemathesis.db"
    shutil.copyfile(template, database)
    schema = schemathesis.openapi.from_dict(build_document(ApiSettings()))
    failures: list[str] = []
    statuses: list[int] = []
    with serving(database) as (base_url, routes, spare_token):
        operations = [result.ok() for result in schema.get_all_operations()]
        served = [op for op in operations
                  if (op.method.upper(), op.path) in routes and op.path not in NOT_HERE]
        assert len(served) >= 20, sorted((op.method, op.path) for op in served)
        for operation in served:
            token = spare_token if operation.path == "/api/auth/logout" else seeded.acme_token
            try:
                exerciser(operation, base_url, token, statuses)()
            except Exception as exc:  # collect every operation's failure, then report them together
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
    # The run reached the handlers, not only the validation and auth layers.
    assert sum(200 <= status < 300 for status in statuses) >= len(served), sorted(set(statuses))
