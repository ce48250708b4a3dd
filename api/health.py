"""`GET /api/health` (load balancers) and `GET /api/health/detailed` (operators: database, queue, modems).

Public routes: they reveal counts and error class names only, never a DSN or a driver message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from api.keys import CLOCK, SERVICES, SETTINGS
from api.schemas import iso_utc

logger = logging.getLogger(__name__)
T = TypeVar("T")

SERVICE_UNAVAILABLE = 503


async def _checked(request: web.Request, what: str, call: Awaitable[T]) -> tuple[T | None, str | None]:
    """(result, None) or (None, error class name); the full error goes to the log."""
    try:
        async with asyncio.timeout(request.app[SETTINGS].health_check_timeout_s):
            return await call, None
    except Exception as exc:  # health boundary: any failure of the dependency means "unhealthy"
        logger.warning("health check %s failed", what, exc_info=True)
        return None, type(exc).__name__


async def health(request: web.Request) -> web.Response:
    timestamp = iso_utc(request.app[CLOCK].now())
    _, error = await _checked(request, "database", request.app[SERVICES].health.ping_database())
    if error is not None:
        return web.json_response({"status": "error", "timestamp": timestamp,
                                  "message": "Database unreachable."}, status=SERVICE_UNAVAILABLE)
    return web.json_response({"status": "ok", "timestamp": timestamp})


def _modems_check(counts: tuple[int, int] | None, error: str | None) -> dict[str, Any]:
    if counts is None:
        return {"status": "error", "message": "Modem counts unavailable", "online": 0, "total": 0,
                "error": error or "unknown"}
    online, total = counts
    if total == 0:
        return {"status": "warning", "message": "No modems registered", "online": 0, "total": 0}
    status = "ok" if online == total else "warning"
    return {"status": status, "message": f"{online} of {total} modems online", "online": online,
            "total": total}


async def health_detailed(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    timestamp = iso_utc(request.app[CLOCK].now())
    _, db_error = await _checked(request, "database", services.health.ping_database())
    counts, modem_error = await _checked(request, "modems", services.health.modem_counts())
    if db_error is None:
        database = {"status": "ok", "message": "Database connection successful"}
        queue = {"status": "ok", "message": "Outbox queue in the database is reachable"}
    else:
        database = {"status": "error", "message": "Database connection failed", "error": db_error}
        queue = {"status": "error", "message": "Outbox queue lives in the database", "error": db_error}
    checks = {
        "database": database,
        # There is no separate cache service: state is in the database and in each process.
        "cache": {"status": "ok", "message": "No external cache configured"},
        "queue": queue,
        "modems": _modems_check(counts, modem_error),
    }
    statuses = {check["status"] for check in checks.values()}
    overall = "error" if db_error is not None else "degraded" if statuses - {"ok"} else "ok"
    return web.json_response({"status": overall, "timestamp": timestamp, "checks": checks},
                             status=SERVICE_UNAVAILABLE if overall == "error" else 200)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/health/detailed", health_detailed)
