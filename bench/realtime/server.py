"""The benchmark's server process: only the Pusher routes over a LocalHub, like `simrelay serve` hosts them.

It also times each `publish` (the fan-out: with direct writes that includes every socket write) and answers
the durations at `GET /bench/fanout`; with a profile path it runs under cProfile and dumps the stats on exit.
"""

from __future__ import annotations

import cProfile
import time
from collections.abc import Sequence

from aiohttp import web

from api.pusher.hub import LocalHub
from api.pusher.routes import PusherServer, PusherSettings, add_routes

FANOUT_TIMES: web.AppKey[list[float]] = web.AppKey("bench.fanout_ms")


class TimedHub(LocalHub):
    """A LocalHub that records how long each publish takes, in milliseconds."""

    def __init__(self, durations_ms: list[float]) -> None:
        super().__init__()
        self._durations_ms = durations_ms

    def publish(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        started = time.perf_counter()
        delivered = super().publish(channels, event, data, except_socket_id=except_socket_id, user_id=user_id)
        self._durations_ms.append((time.perf_counter() - started) * 1000)
        return delivered


async def fanout_times(request: web.Request) -> web.Response:
    return web.json_response(request.app[FANOUT_TIMES])


def serve(port: int, credentials: tuple[str, str, str], profile_path: str | None) -> None:
    app_id, app_key, app_secret = credentials
    durations: list[float] = []
    app = web.Application()
    app[FANOUT_TIMES] = durations
    app.router.add_get("/bench/fanout", fanout_times)
    settings = PusherSettings(app_id=app_id, app_key=app_key, app_secret=app_secret, max_connections=20_000)
    add_routes(app, PusherServer(settings, TimedHub(durations)))
    profiler = cProfile.Profile() if profile_path else None
    if profiler is not None:
        profiler.enable()
    try:
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
    finally:
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)
