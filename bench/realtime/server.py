"""The benchmark's server process: only the Pusher routes over a LocalHub, like `simrelay serve` hosts them.

It records when each `publish` (the fan-out: with direct writes, every socket write) starts and ends on the
host's monotonic clock, answered at `GET /bench/fanout`; with a profile path it runs under cProfile.
"""

from __future__ import annotations

import cProfile
import time
from collections.abc import Sequence

from aiohttp import web

from api.pusher.hub import LocalHub
from api.pusher.routes import PusherServer, PusherSettings, add_routes

# Per publish: (start, end) on time.perf_counter, and the CPU seconds the loop's thread spent in it.
FANOUT_SPANS: web.AppKey[list[tuple[float, float, float]]] = web.AppKey("bench.fanout_spans")


class TimedHub(LocalHub):
    """A LocalHub that records each publish's (start, end, CPU seconds)."""

    def __init__(self, spans: list[tuple[float, float, float]]) -> None:
        super().__init__()
        self._spans = spans

    def publish(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        started, cpu_started = time.perf_counter(), time.thread_time()
        delivered = super().publish(channels, event, data, except_socket_id=except_socket_id, user_id=user_id)
        self._spans.append((started, time.perf_counter(), time.thread_time() - cpu_started))
        return delivered


async def fanout_spans(request: web.Request) -> web.Response:
    return web.json_response(request.app[FANOUT_SPANS])


def serve(port: int, credentials: tuple[str, str, str], profile_path: str | None) -> None:
    app_id, app_key, app_secret = credentials
    spans: list[tuple[float, float, float]] = []
    app = web.Application()
    app[FANOUT_SPANS] = spans
    app.router.add_get("/bench/fanout", fanout_spans)
    settings = PusherSettings(app_id=app_id, app_key=app_key, app_secret=app_secret, max_connections=20_000)
    add_routes(app, PusherServer(settings, TimedHub(spans)))
    profiler = cProfile.Profile() if profile_path else None
    if profiler is not None:
        profiler.enable()
    try:
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
    finally:
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)
