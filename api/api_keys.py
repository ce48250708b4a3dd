"""`/api/api-keys[/{api_key}[/regenerate]]`: the organisation's API keys, for user tokens only.

The permission table already refused API keys (403); this module validates bodies and serialises.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES
from api.requests import FieldErrors, read_json_object, string_field
from api.schemas import api_key_json
from gatewayd.services.api_keys import MAX_NAME_CHARS
from gatewayd.services.permissions import ALL_PERMISSIONS
from gatewayd.services.views import ApiKeyView

# At most 18 digits so the id always fits a 64-bit SQL integer; anything else is not a route (404).
API_KEY_ID_PATTERN = r"{api_key:[0-9]{1,18}}"


def _key_id(request: web.Request) -> int:
    return int(request.match_info["api_key"])


def _permissions(errors: FieldErrors, body: dict[str, Any], *, required: bool) -> list[str] | None:
    """Laravel's `permissions: array|min:1, permissions.*: in:...`."""
    raw = body.get("permissions")
    if raw is None:
        if required:
            errors.add("permissions", "The permissions field is required.")
        return None
    if not isinstance(raw, list) or not raw:
        errors.add("permissions", "The permissions field must be an array with at least one permission.")
        return None
    bad = [index for index, item in enumerate(raw)
           if not isinstance(item, str) or item not in ALL_PERMISSIONS]
    for index in bad:
        errors.add(f"permissions.{index}", f"The selected permissions.{index} is invalid.")
    return None if bad else list(raw)


def _with_secret(view: ApiKeyView, plain: str) -> dict[str, Any]:
    return {"api_key": api_key_json(view), "plain_text_key": plain}


async def list_keys(request: web.Request) -> web.Response:
    keys = await request.app[SERVICES].api_keys.list_for(request[PRINCIPAL])
    return web.json_response({"data": [api_key_json(key) for key in keys]})


async def create_key(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    name = string_field(errors, body, "name", required=True, max_length=MAX_NAME_CHARS)
    permissions = _permissions(errors, body, required=True)
    errors.raise_if_any()
    assert name is not None and permissions is not None
    view, plain = await request.app[SERVICES].api_keys.create(request[PRINCIPAL], name=name,
                                                              permissions=permissions)
    return web.json_response(_with_secret(view, plain), status=201)


async def show_key(request: web.Request) -> web.Response:
    view = await request.app[SERVICES].api_keys.get(request[PRINCIPAL], _key_id(request))
    return web.json_response(api_key_json(view))


async def update_key(request: web.Request) -> web.Response:
    """PUT and PATCH alike: each present field changes, an absent one stays (as the reference's PUT)."""
    body = await read_json_object(request)
    errors = FieldErrors()
    name = string_field(errors, body, "name", required=False, max_length=MAX_NAME_CHARS)
    if "name" in body and name is None and not errors:
        errors.add("name", "The name field must not be empty.")
    permissions = _permissions(errors, body, required=False)
    errors.raise_if_any()
    view = await request.app[SERVICES].api_keys.update(request[PRINCIPAL], _key_id(request), name=name,
                                                       permissions=permissions)
    return web.json_response(api_key_json(view))


async def delete_key(request: web.Request) -> web.Response:
    await request.app[SERVICES].api_keys.delete(request[PRINCIPAL], _key_id(request))
    return web.json_response({"message": "API key deleted successfully."})


async def regenerate_key(request: web.Request) -> web.Response:
    view, plain = await request.app[SERVICES].api_keys.regenerate(request[PRINCIPAL], _key_id(request))
    return web.json_response(_with_secret(view, plain))


def add_routes(app: web.Application) -> None:
    one = f"/api/api-keys/{API_KEY_ID_PATTERN}"
    app.router.add_get("/api/api-keys", list_keys)
    app.router.add_post("/api/api-keys", create_key)
    app.router.add_get(one, show_key)
    app.router.add_put(one, update_key)
    app.router.add_patch(one, update_key)
    app.router.add_delete(one, delete_key)
    app.router.add_post(one + "/regenerate", regenerate_key)
