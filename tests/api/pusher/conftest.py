"""Fixtures for the realtime feed: the real app (services on a seeded SQLite copy) with the Pusher server,
and a small Pusher client over aiohttp's WebSocket client that waits on frames under a deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.pusher import PusherServer, PusherSettings, Realtime
from api.pusher.hub import LocalHub
from api.settings import ApiSettings
from api.websocket_config import WebsocketConfig, public_endpoint
from tests.api.conftest import ClientFactory, World
from tests.api.contract import ApiClient, Contract

APP_ID, APP_KEY, APP_SECRET = "424242", "test-key", "test-secret-0123456789"
BASE_SETTINGS = PusherSettings(app_id=APP_ID, app_key=APP_KEY, app_secret=APP_SECRET)
FRAME_DEADLINE_S = 5.0


class PusherClient:
    """Speaks the protocol frame by frame; every wait has a deadline, so a missing frame fails the test."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.socket_id = ""

    async def frame(self, deadline_s: float = FRAME_DEADLINE_S) -> dict[str, Any]:
        async with asyncio.timeout(deadline_s):
            message = await self.ws.receive()
        assert message.type is WSMsgType.TEXT, f"expected a text frame, got {message!r}"
        decoded: dict[str, Any] = json.loads(message.data)
        return decoded

    async def until(self, event: str, deadline_s: float = FRAME_DEADLINE_S) -> dict[str, Any]:
        async with asyncio.timeout(deadline_s):
            while (frame := await self.frame(deadline_s)).get("event") != event:
                pass
        return frame

    async def send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        await self.ws.send_str(json.dumps(frame))

    async def closed(self, deadline_s: float = FRAME_DEADLINE_S) -> int | None:
        """Reads to the close frame and returns its code."""
        async with asyncio.timeout(deadline_s):
            while True:
                message = await self.ws.receive()
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    return self.ws.close_code
                if message.type is WSMsgType.ERROR:
                    return self.ws.close_code


@dataclass
class Feed:
    client: TestClient[web.Request, web.Application]
    server: PusherServer
    api: ApiClient

    async def connect(self, path: str = f"/app/{APP_KEY}", **kwargs: Any) -> PusherClient:
        ws = await self.client.ws_connect(f"{path}?protocol=7&client=js&version=8.4.0&flash=false", **kwargs)
        client = PusherClient(ws)
        established = await client.frame()
        assert established["event"] == "pusher:connection_established", established
        client.socket_id = json.loads(established["data"])["socket_id"]
        return client


FeedFactory = Callable[..., Awaitable[Feed]]


@pytest.fixture
def feed_factory(world: World, contract: Contract, aiohttp_client: ClientFactory) -> FeedFactory:
    async def build(**overrides: Any) -> Feed:
        server = PusherServer(replace(BASE_SETTINGS, **overrides), LocalHub())
        websocket = WebsocketConfig(APP_KEY, public_endpoint("http://gw.example:8080"))
        app = create_app(world.services, ApiSettings(), clock=world.clock,
                         realtime=Realtime(server, websocket))
        client = await aiohttp_client(app)
        return Feed(client, server, ApiClient(client, contract))

    return build


@pytest.fixture
async def feed(feed_factory: FeedFactory) -> Feed:
    return await feed_factory()
