"""Webhook Integrations and Webhook Mappings routes: request parsing and JSON shapes of the reference.

Scoping, secrets and destination checks are the service's job (gatewayd/services/webhooks.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES, SETTINGS
from api.pagination import paginated_body, public_url
from api.requests import (
    FieldErrors,
    boolean_field,
    enum_field,
    integer_field,
    page_request,
    read_json_object,
    string_field,
)
from api.schemas import iso_utc, organization_json
from gatewayd.services.webhook_events import FORWARDING_MODES
from gatewayd.services.webhooks import DeliveryView, IntegrationInput, IntegrationView, MappingView

_ID = "[0-9]{1,18}"
INTEGRATION_PATH = f"/api/webhook-integrations/{{webhook_integration:{_ID}}}"
MAPPING_PATH = f"{INTEGRATION_PATH}/mappings/{{webhook_mapping:{_ID}}}"


def mapping_json(mapping: MappingView) -> dict[str, Any]:
    return {
        "id": mapping.id,
        "webhook_integration_id": mapping.webhook_integration_id,
        "team_id": mapping.team_id,
        "forwarding_mode": mapping.forwarding_mode,
        "is_active": mapping.is_active,
        "created_at": iso_utc(mapping.created_at),
        "updated_at": iso_utc(mapping.updated_at),
    }


def integration_json(integration: IntegrationView, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": integration.id,
        "name": integration.name,
        "url": integration.url,
        "headers": dict(integration.headers),
        "timeout_seconds": integration.timeout_seconds,
        "retry_count": integration.retry_count,
        "is_active": integration.is_active,
        "created_at": iso_utc(integration.created_at),
        "updated_at": iso_utc(integration.updated_at),
    }
    if integration.mappings is not None:
        body["mappings"] = [mapping_json(mapping) for mapping in integration.mappings]
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_json(delivery: DeliveryView) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event,
        "event_id": delivery.event_id,
        "attempt": max(delivery.attempt, 1),
        "status": delivery.status,
        "http_status": delivery.http_status,
        "error": delivery.error,
        "next_attempt_at": iso_utc(delivery.next_attempt_at),
        "delivered_at": iso_utc(delivery.delivered_at),
        "created_at": iso_utc(delivery.created_at),
        "response_time_ms": delivery.response_time_ms,
        "response_body": delivery.response_body,
    }


def _integration_id(request: web.Request) -> int:
    return int(request.match_info["webhook_integration"])


def _mapping_id(request: web.Request) -> int:
    return int(request.match_info["webhook_mapping"])


async def _integration_input(request: web.Request, *, partial: bool) -> IntegrationInput:
    """Laravel's rules: name required|string|max:255, url required|url|max:2048, headers array,
    timeout_seconds integer 1..120, retry_count integer 0..10, is_active boolean."""
    body = await read_json_object(request)
    errors = FieldErrors()
    name = string_field(errors, body, "name", required=not partial, max_length=255)
    url = string_field(errors, body, "url", required=not partial, max_length=2048)
    if url is not None and not url.lower().startswith(("http://", "https://")):
        errors.add("url", "The url field must be a valid URL.")
    headers = body.get("headers")
    if headers is not None and (
        not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values())
    ):
        errors.add("headers", "The headers field must be an object whose values are strings.")
    timeout = integer_field(errors, body, "timeout_seconds", default=None, minimum=1, maximum=120)
    retries = integer_field(errors, body, "retry_count", default=None, minimum=0, maximum=10)
    active = boolean_field(errors, body, "is_active", default=None)
    errors.raise_if_any()
    return IntegrationInput(
        name=name,
        url=url,
        headers=headers,
        timeout_seconds=timeout,
        retry_count=retries,
        is_active=active,
        given=frozenset(body),
    )


async def list_integrations(request: web.Request) -> web.Response:
    integrations, organization = await request.app[SERVICES].webhooks.list(request[PRINCIPAL])
    return web.json_response(
        {
            "data": [integration_json(each) for each in integrations],
            "organization": organization_json(organization),
        }
    )


async def create_integration(request: web.Request) -> web.Response:
    data = await _integration_input(request, partial=False)
    integration, secret = await request.app[SERVICES].webhooks.create(request[PRINCIPAL], data)
    return web.json_response(
        {
            "message": "Webhook integration created successfully.",
            "data": integration_json(integration, secret),
        },
        status=201,
    )


async def show_integration(request: web.Request) -> web.Response:
    integration = await request.app[SERVICES].webhooks.get(request[PRINCIPAL], _integration_id(request))
    return web.json_response({"data": integration_json(integration)})


async def update_integration(request: web.Request) -> web.Response:
    data = await _integration_input(request, partial=request.method == "PATCH")
    integration = await request.app[SERVICES].webhooks.update(
        request[PRINCIPAL], _integration_id(request), data
    )
    return web.json_response(
        {"message": "Webhook integration updated successfully.", "data": integration_json(integration)}
    )


async def delete_integration(request: web.Request) -> web.Response:
    await request.app[SERVICES].webhooks.delete(request[PRINCIPAL], _integration_id(request))
    return web.json_response({"message": "Webhook integration deleted successfully."})


async def regenerate_secret(request: web.Request) -> web.Response:
    integration, secret = await request.app[SERVICES].webhooks.regenerate_secret(
        request[PRINCIPAL], _integration_id(request)
    )
    return web.json_response(
        {"message": "Webhook secret regenerated successfully.", "data": integration_json(integration, secret)}
    )


async def test_integration(request: web.Request) -> web.Response:
    result = await request.app[SERVICES].webhooks.send_test(request[PRINCIPAL], _integration_id(request))
    return web.json_response(
        {
            "success": result.success,
            "http_status": result.http_status,
            "response_body": result.response_body,
            "response_time_ms": result.response_time_ms,
        }
    )


async def list_deliveries(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    wanted = page_request(
        request.query,
        default_per_page=settings.default_per_page,
        max_per_page=settings.max_per_page,
        size_fields=("per_page",),
    )
    page = await request.app[SERVICES].webhooks.deliveries(
        request[PRINCIPAL], _integration_id(request), page=wanted.page, per_page=wanted.per_page
    )
    return web.json_response(
        paginated_body(
            page.items,
            delivery_json,
            total=page.total,
            page=page.page,
            per_page=page.per_page,
            url=public_url(request, settings.public_base_url),
        )
    )


async def list_mappings(request: web.Request) -> web.Response:
    mappings, integration = await request.app[SERVICES].webhooks.list_mappings(
        request[PRINCIPAL], _integration_id(request)
    )
    return web.json_response(
        {
            "data": [mapping_json(each) for each in mappings],
            "webhook_integration": integration_json(integration),
        }
    )


async def create_mapping(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    team_id = integer_field(errors, body, "team_id", default=None, minimum=1, maximum=10**18)
    if body.get("team_id") in (None, ""):
        errors.add("team_id", "The team id field is required.")
    mode = enum_field(errors, body, "forwarding_mode", allowed=FORWARDING_MODES, required=True)
    errors.raise_if_any()
    assert team_id is not None and mode is not None
    mapping = await request.app[SERVICES].webhooks.create_mapping(
        request[PRINCIPAL], _integration_id(request), team_id=team_id, forwarding_mode=mode
    )
    return web.json_response(
        {"message": "Webhook mapping created successfully.", "data": mapping_json(mapping)}, status=201
    )


async def show_mapping(request: web.Request) -> web.Response:
    mapping = await request.app[SERVICES].webhooks.get_mapping(
        request[PRINCIPAL], _integration_id(request), _mapping_id(request)
    )
    return web.json_response({"data": mapping_json(mapping)})


async def update_mapping(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    mode = enum_field(
        errors, body, "forwarding_mode", allowed=FORWARDING_MODES, required=request.method == "PUT"
    )
    active = boolean_field(errors, body, "is_active", default=None)
    errors.raise_if_any()
    mapping = await request.app[SERVICES].webhooks.update_mapping(
        request[PRINCIPAL],
        _integration_id(request),
        _mapping_id(request),
        forwarding_mode=mode,
        is_active=active,
    )
    return web.json_response(
        {"message": "Webhook mapping updated successfully.", "data": mapping_json(mapping)}
    )


async def delete_mapping(request: web.Request) -> web.Response:
    await request.app[SERVICES].webhooks.delete_mapping(
        request[PRINCIPAL], _integration_id(request), _mapping_id(request)
    )
    return web.json_response({"message": "Webhook mapping deleted successfully."})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/webhook-integrations", list_integrations)
    router.add_post("/api/webhook-integrations", create_integration)
    router.add_get(INTEGRATION_PATH, show_integration)
    router.add_put(INTEGRATION_PATH, update_integration)
    router.add_patch(INTEGRATION_PATH, update_integration)
    router.add_delete(INTEGRATION_PATH, delete_integration)
    router.add_post(INTEGRATION_PATH + "/regenerate-secret", regenerate_secret)
    router.add_post(INTEGRATION_PATH + "/test", test_integration)
    router.add_get(INTEGRATION_PATH + "/deliveries", list_deliveries)
    router.add_get(INTEGRATION_PATH + "/mappings", list_mappings)
    router.add_post(INTEGRATION_PATH + "/mappings", create_mapping)
    router.add_get(MAPPING_PATH, show_mapping)
    router.add_put(MAPPING_PATH, update_mapping)
    router.add_patch(MAPPING_PATH, update_mapping)
    router.add_delete(MAPPING_PATH, delete_mapping)
