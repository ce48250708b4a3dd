"""`GET /api/websocket-config`: where and how clients connect to the realtime feed (Laravel Echo's options).

It reports the deployment's configured public values; it never reveals the app secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from api.keys import SETTINGS

DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class PublicEndpoint:
    """The origin clients open the WebSocket against (behind a TLS proxy it is not our listen address)."""

    scheme: str  # http or https, as Laravel's REVERB_SCHEME
    host: str
    port: int

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://{self.host}:{self.port}"


def public_endpoint(base_url: str, *, host: str = "", port: int = 0, scheme: str = "") -> PublicEndpoint:
    """Configured values win; each missing one is taken from the public base URL of the API."""
    parts = urlsplit(base_url)
    chosen_scheme = scheme or parts.scheme or "http"
    chosen_port = port or parts.port or DEFAULT_PORTS.get(chosen_scheme, 80)
    return PublicEndpoint(chosen_scheme, host or parts.hostname or "127.0.0.1", chosen_port)


@dataclass(frozen=True, slots=True)
class WebsocketConfig:
    app_key: str
    endpoint: PublicEndpoint


WEBSOCKET_CONFIG: Final[web.AppKey[WebsocketConfig]] = web.AppKey("simrelay.websocket_config")


async def websocket_config(request: web.Request) -> web.Response:
    config = request.app[WEBSOCKET_CONFIG]
    base_url = request.app[SETTINGS].public_base_url or f"{request.scheme}://{request.host}"
    endpoint = config.endpoint
    return web.json_response({
        "broadcaster": "reverb",
        "key": config.app_key,
        "ws_url": endpoint.ws_url,
        "ws_host": endpoint.host,
        "ws_port": endpoint.port,
        "ws_scheme": endpoint.scheme,
        "force_tls": endpoint.scheme == "https",
        "auth_method": "bearer_token",
        "auth_header": "Authorization: Bearer <token>",
        "auth_endpoint": f"{base_url}/broadcasting/auth",
    })


def add_routes(app: web.Application, config: WebsocketConfig) -> None:
    app[WEBSOCKET_CONFIG] = config
    app.router.add_get("/api/websocket-config", websocket_config)
