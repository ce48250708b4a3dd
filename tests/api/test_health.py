"""Health routes against the real services, including an unreachable database."""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from api.settings import ApiSettings
from gatewayd.clock import ManualClock
from gatewayd.services.container import build_services
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import ClientFactory
from tests.api.contract import ApiClient, Contract


async def test_health_is_ok_with_the_injected_time(api: ApiClient) -> None:
    reply = await api.get("/api/health")
    assert (reply.status, reply.body) == (200, {"status": "ok", "timestamp": "2026-05-11T15:00:00Z"})


async def test_detailed_counts_modems_and_reports_each_check(api: ApiClient) -> None:
    reply = await api.get("/api/health/detailed")
    assert reply.status == 200
    checks = reply.body["checks"]
    assert {name: check["status"] for name, check in checks.items()}["database"] == "ok"
    assert checks["modems"]["total"] == 3
    assert checks["modems"]["online"] <= 3
    assert reply.body["status"] == ("ok" if checks["modems"]["online"] == 3 else "degraded")


async def test_unreachable_database_is_503_with_status_error(
        tmp_path: Path, contract: Contract, aiohttp_client: ClientFactory) -> None:
    # A database file in a directory that does not exist: every connection attempt fails.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'api.db'}")
    services = build_services(session_factory(engine), ManualClock())
    api = ApiClient(await aiohttp_client(create_app(services, ApiSettings())), contract)
    reply = await api.get("/api/health")
    assert reply.status == 503
    assert reply.body["status"] == "error"
    detailed = await api.get("/api/health/detailed")
    assert detailed.status == 503
    assert detailed.body["checks"]["database"]["status"] == "error"
    assert "error" in detailed.body["checks"]["database"]
    assert detailed.body["checks"]["modems"]["status"] == "error"
    await engine.dispose()
