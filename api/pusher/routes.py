"""The Pusher-protocol WebSocket (`/app/{key}`, `/reverb/app/{key}`) and the signed HTTP trigger API.

Handlers translate between sockets and the pure protocol module; the hub does the fan-out and each
PusherConnection's writer task does the sending. Nothing here talks to the store.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from api.errors import Unauthenticated
from api.pusher import protocol
from api.pusher.connection import PusherConnection, SendLimits
from api.pusher.hub import ChannelHub
from api.pusher.wire import OutboundFrame
from api.requests import read_json_object
from gatewayd.errors import NotFound, ValidationFailed

log = logging.getLogger(__name__)

# RFC 6455 §7.4.1: 1009 = message too big; Reverb's WebSocket layer (Ratchet) closes oversized frames so.
CLOSE_MESSAGE_TOO_BIG: Final = 1009
# aiohttp's own cap, far above `max_message_bytes`, so that we see the oversized frame and answer it.
_READ_CAP_BYTES: Final = 1024 * 1024
_WRITER_STOP_S: Final = 5.0
_PING: Final = OutboundFrame.of(protocol.PING_FRAME)
_PONG: Final = OutboundFrame.of(protocol.PONG_FRAME)


@dataclass(frozen=True, slots=True)
class PusherSettings:
    app_id: str
    app_key: str
    app_secret: str
    allowed_origins: tuple[str, ...] = ("*",)
    max_connections: int = 10_000
    max_message_bytes: int = 10_000
    activity_timeout_s: float = 30.0
    pong_timeout_s: float = 30.0
    client_events: bool = False
    send_limits: SendLimits = field(default_factory=SendLimits)


class PusherServer:
    """What the routes share: settings, the hub and the live connections (for the quota and shutdown)."""

    def __init__(self, settings: PusherSettings, hub: ChannelHub,
                 wall_clock_s: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.hub = hub
        self.connections: dict[str, PusherConnection] = {}
        self.wall_clock_s = wall_clock_s
        self._writers: set[asyncio.Task[None]] = set()

    def start_writer(self, connection: PusherConnection) -> asyncio.Task[None]:
        task = asyncio.create_task(connection.run_writer(), name=f"pusher-writer-{connection.socket_id}")
        self._writers.add(task)
        task.add_done_callback(self._writers.discard)
        return task

    async def close(self) -> None:
        """Server shutdown: every client is told to reconnect (4200 range), then writers are awaited."""
        for connection in list(self.connections.values()):
            connection.close_with_error(protocol.ErrorCode.INVALID_MESSAGE, "Server is shutting down")
        if self._writers:
            await asyncio.wait(set(self._writers), timeout=_WRITER_STOP_S)


PUSHER: Final[web.AppKey[PusherServer]] = web.AppKey("simrelay.pusher")


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Reverb's rule: `*` allows all; otherwise the Origin's host must match a pattern (`*.example.com`)."""
    if "*" in allowed:
        return True
    host = urlsplit(origin).hostname if origin else None
    return host is not None and any(fnmatch.fnmatchcase(host, pattern) for pattern in allowed)


async def _refuse(ws: web.WebSocketResponse, code: protocol.ErrorCode, message: str | None = None) -> None:
    text = message or protocol.DEFAULT_MESSAGES[code]
    await ws.send_str(protocol.error_frame(code, text))
    await ws.close(code=int(code), message=text.encode()[:120])


async def websocket(request: web.Request) -> web.WebSocketResponse:
    server = request.app[PUSHER]
    settings = server.settings
    # permessage-deflate declined (RFC 6455 §9.1: the server picks which offered extensions, if any, to use);
    # frames are prepared once as plain wire bytes for every socket, and ~200-byte events gain little from
    # compression, which cost one zlib context (~100 KiB) and one compression per socket per event.
    ws = web.WebSocketResponse(autoping=True, max_msg_size=_READ_CAP_BYTES, compress=False,
                               timeout=settings.send_limits.cut_grace_s)
    await ws.prepare(request)
    if request.match_info["key"] != settings.app_key:
        await _refuse(ws, protocol.ErrorCode.APP_NOT_FOUND)
        return ws
    if not origin_allowed(request.headers.get("Origin"), settings.allowed_origins):
        await _refuse(ws, protocol.ErrorCode.UNAUTHORIZED, "Origin not allowed")
        return ws
    if len(server.connections) >= settings.max_connections:
        await _refuse(ws, protocol.ErrorCode.OVER_QUOTA)
        return ws
    connection = PusherConnection(ws, request.transport, protocol.new_socket_id(secrets.randbelow),
                                  settings.send_limits)
    server.connections[connection.socket_id] = connection
    writer = server.start_writer(connection)
    timeout_announced = max(1, math.ceil(settings.activity_timeout_s))
    established = protocol.connection_established(connection.socket_id, timeout_announced)
    connection.deliver(OutboundFrame.of(established))
    try:
        await _receive_loop(server, connection, ws)
    finally:
        server.hub.leave_all(connection)
        del server.connections[connection.socket_id]
        connection.close_quietly()
        await asyncio.wait({writer}, timeout=_WRITER_STOP_S)
    return ws


async def _receive_loop(
    server: PusherServer, connection: PusherConnection, ws: web.WebSocketResponse
) -> None:
    """Reads until the client leaves; an idle client is pinged, one that does not answer is cut (4201)."""
    settings = server.settings
    awaiting_pong = False
    while not connection.closing:
        try:
            message = await ws.receive(
                timeout=settings.pong_timeout_s if awaiting_pong else settings.activity_timeout_s
            )
        except TimeoutError:
            if awaiting_pong:
                connection.close_with_error(protocol.ErrorCode.PONG_TIMEOUT)
                return
            connection.deliver(_PING)
            awaiting_pong = True
            continue
        awaiting_pong = False  # any frame from the client proves it is alive
        if message.type is WSMsgType.TEXT:
            if len(message.data.encode()) > settings.max_message_bytes:
                await ws.close(code=CLOSE_MESSAGE_TOO_BIG, message=b"Maximum message size exceeded")
                return
            _handle_text(server, connection, message.data)
        elif message.type is WSMsgType.BINARY:
            connection.deliver(OutboundFrame.of(protocol.error_frame(protocol.ErrorCode.INVALID_MESSAGE)))
        else:  # CLOSE, CLOSING, CLOSED, ERROR
            return


def _handle_text(server: PusherServer, connection: PusherConnection, text: str) -> None:
    try:
        frame = protocol.parse_client_frame(text)
        if frame.event.startswith("pusher:"):
            _handle_pusher_event(server, connection, frame)
        elif frame.event.startswith("client-"):
            _handle_client_event(server, connection, frame)
        # Anything else is ignored, as Reverb does.
    except protocol.ProtocolError as error:
        log.info("pusher: %s from %s", error, connection.socket_id)
        connection.deliver(OutboundFrame.of(protocol.error_frame(error.code, error.message)))


def _handle_pusher_event(
    server: PusherServer, connection: PusherConnection, frame: protocol.ClientFrame
) -> None:
    match frame.event:
        case "pusher:ping":
            connection.deliver(_PONG)
        case "pusher:pong":
            pass  # its arrival already reset the activity timer
        case "pusher:subscribe":
            _subscribe(server, connection, protocol.subscribe_request(frame))
        case "pusher:unsubscribe":
            server.hub.leave(protocol.unsubscribe_channel(frame), connection)
        case _:
            raise protocol.ProtocolError(protocol.ErrorCode.INVALID_MESSAGE, frame.event)


def _subscribe(
    server: PusherServer, connection: PusherConnection, request: protocol.SubscribeRequest
) -> None:
    settings = server.settings
    kind = protocol.channel_kind(request.channel)
    if kind is protocol.ChannelKind.PUBLIC:
        server.hub.join(request.channel, connection, None)
        return
    if kind is protocol.ChannelKind.PRIVATE:
        request = protocol.SubscribeRequest(request.channel, request.auth, None)  # channel_data is not signed
    if not protocol.verify_channel_auth(settings.app_key, settings.app_secret, connection.socket_id, request):
        raise protocol.ProtocolError(protocol.ErrorCode.UNAUTHORIZED, f"bad auth for {request.channel}")
    is_presence = kind is protocol.ChannelKind.PRESENCE
    member = protocol.parse_channel_data(request.channel_data) if is_presence else None
    server.hub.join(request.channel, connection, member)


def _handle_client_event(
    server: PusherServer, connection: PusherConnection, frame: protocol.ClientFrame
) -> None:
    if not server.settings.client_events:
        raise protocol.ProtocolError(protocol.ErrorCode.CLIENT_EVENTS_DISABLED, frame.event)
    channel = frame.channel
    if channel is None or protocol.channel_kind(channel) is protocol.ChannelKind.PUBLIC:
        raise protocol.ProtocolError(protocol.ErrorCode.INVALID_MESSAGE, f"{frame.event} on {channel!r}")
    if not server.hub.is_member(channel, connection):
        raise protocol.ProtocolError(protocol.ErrorCode.UNAUTHORIZED, f"{frame.event} on {channel}",
                                     "The client is not a member of the specified channel.")
    server.hub.publish([channel], frame.event, protocol.encode_event_data(frame.data),
                       except_socket_id=connection.socket_id)


# --- HTTP API ----------------------------------------------------------------------------------------------


async def _authentic_body(request: web.Request) -> bytes:
    """The raw body of a correctly signed request for our app; 404 unknown app, 401 bad signature."""
    server = request.app[PUSHER]
    settings = server.settings
    if request.match_info["app_id"] != settings.app_id:
        raise NotFound(f"No Pusher application {request.match_info['app_id']!r}.")
    body = await request.read()
    problem = protocol.request_problem(
        settings.app_key, settings.app_secret, method=request.method, path=request.path,
        params=dict(request.query), body=body, now_s=server.wall_clock_s(),
    )
    if problem is not None:
        raise Unauthenticated(f"Pusher HTTP API: {problem}")
    return body


def _parse_event(raw: Any, max_bytes: int, field_name: str) -> protocol.TriggeredEvent:
    try:
        return protocol.parse_triggered_event(raw, max_bytes)
    except ValueError as error:
        raise ValidationFailed({field_name: [str(error)]}) from None


async def trigger_event(request: web.Request) -> web.Response:
    await _authentic_body(request)
    server = request.app[PUSHER]
    event = _parse_event(await read_json_object(request), server.settings.max_message_bytes, "event")
    server.hub.publish(event.channels, event.name, event.data, except_socket_id=event.socket_id)
    return web.json_response({})


async def trigger_batch(request: web.Request) -> web.Response:
    await _authentic_body(request)
    server = request.app[PUSHER]
    batch = (await read_json_object(request)).get("batch")
    if not isinstance(batch, list) or not 0 < len(batch) <= protocol.MAX_TRIGGER_CHANNELS:
        raise ValidationFailed({"batch": [f"batch must list 1..{protocol.MAX_TRIGGER_CHANNELS} events"]})
    limit = server.settings.max_message_bytes
    events = [_parse_event(raw, limit, f"batch.{n}") for n, raw in enumerate(batch)]
    for event in events:  # all validated first: a batch is published whole or not at all
        server.hub.publish(event.channels, event.name, event.data, except_socket_id=event.socket_id)
    return web.json_response({})


async def list_channels(request: web.Request) -> web.Response:
    await _authentic_body(request)
    hub = request.app[PUSHER].hub
    prefix = request.query.get("filter_by_prefix", "")
    wants_users = "user_count" in request.query.get("info", "").split(",")
    channels: dict[str, dict[str, int]] = {}
    for info in hub.channels():
        if info.name.startswith(prefix):
            channels[info.name] = {"user_count": info.user_count} if wants_users and info.user_count else {}
    return web.json_response({"channels": channels})


async def show_channel(request: web.Request) -> web.Response:
    await _authentic_body(request)
    info = request.app[PUSHER].hub.channel(request.match_info["channel_name"])
    body: dict[str, Any] = {"occupied": info.subscription_count > 0,
                            "subscription_count": info.subscription_count}
    if info.user_count is not None:
        body["user_count"] = info.user_count
    return web.json_response(body)


async def channel_users(request: web.Request) -> web.Response:
    await _authentic_body(request)
    name = request.match_info["channel_name"]
    if protocol.channel_kind(name) is not protocol.ChannelKind.PRESENCE:
        raise ValidationFailed({"channel_name": [f"{name} is not a presence channel"]})
    users = [{"id": user_id} for user_id in request.app[PUSHER].hub.presence_user_ids(name)]
    return web.json_response({"users": users})


def add_routes(app: web.Application, server: PusherServer) -> None:
    app[PUSHER] = server
    app.router.add_get("/app/{key}", websocket)
    app.router.add_get("/reverb/app/{key}", websocket)
    app.router.add_post("/apps/{app_id}/events", trigger_event)
    app.router.add_post("/apps/{app_id}/batch_events", trigger_batch)
    app.router.add_get("/apps/{app_id}/channels", list_channels)
    app.router.add_get("/apps/{app_id}/channels/{channel_name}", show_channel)
    app.router.add_get("/apps/{app_id}/channels/{channel_name}/users", channel_users)
    app.on_shutdown.append(_close_connections)


async def _close_connections(app: web.Application) -> None:
    await app[PUSHER].close()
