"""The aiohttp application factory of the SimRelay API: middlewares, routes, typed app keys.

It wires services into handlers and nothing else: no engine, no modem; its one background task is the
batched last_used_at writer, which lives and ends with the app (a final flush at cleanup).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from api import api_keys, auth, devices, health, locks, messages, oauth, openapi, sims, twilio, user, webhooks
from api.auth_middleware import auth_middleware
from api.errors import error_middleware
from api.keys import CLOCK, SERVICES, SETTINGS
from api.permissions import access_for
from api.pusher import Realtime
from api.rate_limit import RATE_LIMITER, rate_limit_middleware
from api.rendered_pages import RENDERED_PAGES, RenderedPages
from api.settings import ApiSettings
from gatewayd.clock import Clock, SystemClock
from gatewayd.services.container import Services
from gatewayd.services.throttle import RequestRateLimiter


def create_app(services: Services, settings: ApiSettings, *, clock: Clock | None = None,
               realtime: Realtime | None = None) -> web.Application:
    """A ready-to-run app; add more routes before it starts, each listed in api/permissions.ROUTE_ACCESS."""
    # error_middleware is outermost so that auth failures and handler errors leave the same way.
    # rate_limit_middleware keys on the principal, so it runs after auth_middleware.
    app = web.Application(middlewares=[error_middleware, auth_middleware, rate_limit_middleware],
                          client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    app[SETTINGS] = settings
    app[CLOCK] = clock if clock is not None else SystemClock()
    app[RATE_LIMITER] = RequestRateLimiter(app[CLOCK], settings.rate_limit_per_minute)
    app[RENDERED_PAGES] = RenderedPages()
    for module in (health, user, auth, sims, locks, messages, api_keys, webhooks, oauth, devices, twilio):
        module.add_routes(app)
    if realtime is not None:  # the Pusher feed, /api/websocket-config and /broadcasting/auth
        realtime.install(app)
    openapi.install(app, settings)
    app.on_startup.append(_refuse_unlisted_routes)
    app.cleanup_ctx.append(_write_last_used_in_batches)
    return app


async def _write_last_used_in_batches(app: web.Application) -> AsyncIterator[None]:
    """Authentication notes uses in memory (services/auth.py); this writes them every few seconds, and
    once more at shutdown so a clean stop loses none."""
    auth = app[SERVICES].auth
    writer = asyncio.create_task(auth.flush_last_used_every(app[SETTINGS].last_used_flush_interval_s),
                                 name="last-used-writer")
    yield
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    await auth.flush_last_used()


async def _refuse_unlisted_routes(app: web.Application) -> None:
    """Fail closed: a route without a permission rule stops the app at startup (UnlistedRoute)."""
    for route in app.router.routes():
        if route.resource is not None and route.method != "*":
            access_for(route.method, route.resource.canonical)
