"""`POST /broadcasting/auth`: signs a private-channel subscription for the caller's own user channel.

pusher-js posts a form, the SimRelay clients JSON; both carry `socket_id` and `channel_name`. The auth
middleware has already checked the bearer token (API keys need `messages.read`); any channel that is not the
caller's is refused with 403. Only the app secret signs; the store is not touched.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import PRINCIPAL
from api.pusher import protocol
from api.pusher.routes import PUSHER
from api.requests import FieldErrors, read_json_object, string_field
from gatewayd.delivery.realtime import user_channels
from gatewayd.errors import Forbidden


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        return {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    return await read_json_object(request)


async def broadcasting_auth(request: web.Request) -> web.Response:
    body = await _body(request)
    errors = FieldErrors()
    socket_id = string_field(errors, body, "socket_id", required=True, max_length=40)
    channel_name = string_field(errors, body, "channel_name", required=True,
                                max_length=protocol.MAX_CHANNEL_NAME_CHARS)
    if socket_id is not None and not protocol.is_valid_socket_id(socket_id):
        errors.add("socket_id", "The socket id field format is invalid.")
    errors.raise_if_any()
    assert socket_id is not None and channel_name is not None  # raise_if_any returned
    principal = request[PRINCIPAL]
    if channel_name not in user_channels(principal.user_id):
        raise Forbidden(f"Channel {channel_name} is not yours.")
    settings = request.app[PUSHER].settings
    return web.json_response(
        {"auth": protocol.channel_auth(settings.app_key, settings.app_secret, socket_id, channel_name)}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/broadcasting/auth", broadcasting_auth)
