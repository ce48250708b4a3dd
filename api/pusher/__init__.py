"""The realtime feed: a Pusher protocol 7 server (Laravel Reverb's dialect) inside the API process.

`Realtime` bundles what `create_app` needs to serve it; the composition root builds it and owns the hub.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.pusher.routes import PusherServer, PusherSettings
from api.websocket_config import WebsocketConfig

__all__ = ["PusherServer", "PusherSettings", "Realtime"]


@dataclass(frozen=True)
class Realtime:
    server: PusherServer
    websocket: WebsocketConfig

    def install(self, app: web.Application) -> None:
        """The WebSocket, the Pusher HTTP API, `/api/websocket-config` and `/broadcasting/auth`."""
        from api import broadcasting, websocket_config
        from api.pusher import routes

        routes.add_routes(app, self.server)
        websocket_config.add_routes(app, self.websocket)
        broadcasting.add_routes(app)
