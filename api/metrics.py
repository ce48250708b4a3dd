"""`GET /metrics` (Prometheus exposition) and the middleware that times every request by route template.

The metrics object comes from the composition root through an AppKey; the API knows only this small
protocol, never the modem side that feeds it.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpObserver(Protocol):
    def observe(self, method: str, route: str, status: int, seconds: float) -> None: ...


class MetricsSource(Protocol):
    @property
    def http(self) -> HttpObserver: ...

    async def scrape(self) -> bytes: ...


METRICS: Final[web.AppKey[MetricsSource]] = web.AppKey("simrelay.metrics")


def install(app: web.Application, metrics: MetricsSource) -> None:
    """Mount `/metrics` and the request timer; call before the app starts (middlewares freeze then)."""
    app[METRICS] = metrics
    app.router.add_get("/metrics", _scrape)
    # Outermost, so the status counted is the one the client got (after error translation).
    app.middlewares.insert(0, _timed)


async def _scrape(request: web.Request) -> web.Response:
    body = await request.app[METRICS].scrape()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _timed(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[METRICS].http.observe(request.method, _route_of(request), status,
                                          time.perf_counter() - started)
