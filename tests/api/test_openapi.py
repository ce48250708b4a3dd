"""The OpenAPI document: valid OpenAPI 3.1, complete against ENDPOINTS.md, consistent with the app and the
permission table, served as JSON and as an offline HTML page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openapi_spec_validator import validate

from api.app import create_app
from api.openapi import build_document
from api.permissions import UnlistedRoute
from api.settings import ApiSettings
from tests.api.conftest import World
from tests.api.contract import ApiClient, Contract

# Transcribed from ENDPOINTS.md (the route table); the test below also re-reads the file when it is present.
ENDPOINTS = """
GET /api/health; GET /api/health/detailed; POST /api/auth/login; POST /api/auth/login/2fa
POST /api/auth/logout; GET /api/user; GET /api/sims; GET /api/sims/{hosted_sim}
POST /api/sims/{hosted_sim}/lock; GET /api/sims/{hosted_sim}/lock; DELETE /api/sims/{hosted_sim}/lock
GET /api/sims/{hosted_sim}/messages
POST /api/sims/{hosted_sim}/messages; GET /api/api-keys; POST /api/api-keys; GET /api/api-keys/{api_key}
PUT /api/api-keys/{api_key}; PATCH /api/api-keys/{api_key}; DELETE /api/api-keys/{api_key}
POST /api/api-keys/{api_key}/regenerate; GET /api/webhook-integrations; POST /api/webhook-integrations
GET /api/webhook-integrations/{webhook_integration}; PUT /api/webhook-integrations/{webhook_integration}
PATCH /api/webhook-integrations/{webhook_integration}; DELETE /api/webhook-integrations/{webhook_integration}
POST /api/webhook-integrations/{webhook_integration}/regenerate-secret
POST /api/webhook-integrations/{webhook_integration}/test
GET /api/webhook-integrations/{webhook_integration}/deliveries
GET /api/webhook-integrations/{webhook_integration}/mappings
POST /api/webhook-integrations/{webhook_integration}/mappings
GET /api/webhook-integrations/{webhook_integration}/mappings/{webhook_mapping}
PUT /api/webhook-integrations/{webhook_integration}/mappings/{webhook_mapping}
PATCH /api/webhook-integrations/{webhook_integration}/mappings/{webhook_mapping}
DELETE /api/webhook-integrations/{webhook_integration}/mappings/{webhook_mapping}
GET /api/websocket-config; POST /broadcasting/auth; GET /app/{key}; GET /reverb/app/{key}
GET /oauth/authorize; POST /oauth/token; POST /oauth/revoke; GET /api/byos/devices; POST /api/byos/devices
GET /api/byos/devices/{device}; PUT /api/byos/devices/{device}; DELETE /api/byos/devices/{device}
POST /api/byos/devices/{device}/disable; POST /api/byos/devices/{device}/enable
GET /api/byos/devices/{device}/config; POST /api/byos/devices/{device}/heartbeat
POST /api/byos/devices/{device}/messages; POST /api/byos/devices/{device}/sim-cards
PUT /api/byos/devices/{device}/sim-cards/{simCard}; DELETE /api/byos/devices/{device}/sim-cards/{simCard}
POST /api/byos/devices/{device}/sim-cards/{simCard}/verify; POST /api/webhooks/twilio/sms; GET /metrics
GET /api/openapi.json
"""
SPEC_CANDIDATES = [Path(__file__).resolve().parents[3] / "shared/spec/ENDPOINTS.md",
                   Path("/work/shared/spec/ENDPOINTS.md")]


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def transcribed() -> set[tuple[str, str]]:
    entries = [entry.strip() for line in ENDPOINTS.strip().splitlines() for entry in line.split(";")]
    return {(entry.split()[0], entry.split()[1]) for entry in entries if entry}


def parsed_from_spec(text: str) -> set[tuple[str, str]]:
    """Rows `| GET/PUT | `/path` ...` and `/path1`, `/path2` of ENDPOINTS.md's route table."""
    routes: set[tuple[str, str]] = set()
    for methods, cell in re.findall(r"^\| ([A-Z/]+) \| (.+?) \|", text, flags=re.MULTILINE):
        paths = re.findall(r"`(/[^`]*)`", cell)
        # "`/x/disable`, `/enable`": a bare second segment is a sibling of the first.
        full = [paths[0]] + [p if p.count("/") > 1 else paths[0].rsplit("/", 1)[0] + p for p in paths[1:]]
        for method in methods.split("/"):
            routes.update(("GET" if method == "WS" else method, path) for path in full)
    return routes


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(ApiSettings(public_base_url="https://sms.example.com"))


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_endpoints_md_route_is_documented(document: dict[str, Any]) -> None:
    missing = transcribed() - documented(document)
    assert not missing, sorted(missing)


def test_transcription_matches_the_spec_file_when_present(document: dict[str, Any]) -> None:
    spec = next((path for path in SPEC_CANDIDATES if path.exists()), None)
    if spec is None:
        pytest.skip("ENDPOINTS.md is not beside this checkout")
    from_spec = parsed_from_spec(spec.read_text(encoding="utf-8"))
    assert len(from_spec) > 50
    assert not from_spec - documented(document), sorted(from_spec - documented(document))


def test_security_follows_the_permission_table(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert paths["/api/health"]["get"]["security"] == []
    assert paths["/api/sims"]["get"]["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert paths["/api/sims"]["get"]["x-permission"] == "numbers.read"
    assert paths["/api/api-keys"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/byos/devices"]["get"]["security"] == [{"oauth2_byos": []}]
    assert "x-authenticated-by" in paths["/api/webhooks/twilio/sms"]["post"]
    for path, item in paths.items():
        for method, operation in item.items():
            if "x-authenticated-by" in operation:
                continue  # signed routes (Pusher HTTP API) document their own 401
            has_bearer = bool(operation["security"])
            assert ("401" in operation["responses"]) == has_bearer, (method, path)


def test_every_app_route_is_documented(world: World, document: dict[str, Any]) -> None:
    app = create_app(world.services, ApiSettings())
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.resource is not None and route.method != "HEAD"}
    assert routes <= documented(document), sorted(routes - documented(document))


async def test_served_json_is_the_built_document(api: ApiClient) -> None:
    reply = await api.get("/api/openapi.json")
    assert reply.status == 200
    assert reply.body == build_document(ApiSettings())


async def test_docs_page_is_self_contained_html(api: ApiClient, document: dict[str, Any]) -> None:
    reply = await api.get("/docs")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    page = reply.body
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=['"]https?://""", page), "the page must work offline"
    for path in document["paths"]:
        assert path.replace("{", "{") in page, path
    for name in document["components"]["schemas"]:
        assert f"id='schema-{name.lower()}'" in page, name


async def test_a_route_missing_from_the_permission_table_stops_startup(world: World) -> None:
    app = create_app(world.services, ApiSettings())

    async def secret(request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app.router.add_get("/api/secret", secret)
    server = TestServer(app)
    try:
        with pytest.raises(UnlistedRoute, match="/api/secret"):
            await server.start_server()
    finally:
        await server.close()


def test_contract_rejects_an_undocumented_field_or_status(contract: Contract) -> None:
    good = {"status": "ok", "timestamp": "2026-05-11T15:00:00Z"}
    contract.check("GET", "/api/health", 200, "application/json", good)
    with pytest.raises(AssertionError, match="Additional properties"):
        contract.check("GET", "/api/health", 200, "application/json", good | {"debug": "x"})
    with pytest.raises(AssertionError, match="not documented"):
        contract.check("GET", "/api/health", 418, "application/json", good)
    with pytest.raises(AssertionError, match="date-time"):
        contract.check("GET", "/api/health", 200, "application/json", good | {"timestamp": "yesterday"})
