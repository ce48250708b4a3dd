"""`POST/GET/DELETE /api/sims/{hosted_sim}/lock`: acquire or extend, status, release.

Validates the optional body and serialises; who may hold what is services/locks.py's decision.
"""

from __future__ import annotations

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES
from api.requests import FieldErrors, integer_field, read_json_object
from api.schemas import iso_utc
from api.sims import SIM_ID_PATTERN, sim_id
from gatewayd.services.locks import MAX_LOCK_TTL_S, LockView

UNLOCKED = {"status": "unlocked"}


def lock_json(lock: LockView) -> dict[str, object]:
    return {"status": "locked", "lock_id": lock.id, "user_id": lock.user_id, "user_name": lock.user_name,
            "expires_at": iso_utc(lock.expires_at)}


async def acquire_lock(request: web.Request) -> web.Response:
    body = await read_json_object(request)  # clients POST `{}` or nothing at all
    errors = FieldErrors()
    duration = integer_field(errors, body, "duration_seconds", default=None, minimum=1,
                             maximum=MAX_LOCK_TTL_S)
    errors.raise_if_any()
    lock, created = await request.app[SERVICES].locks.acquire(request[PRINCIPAL], sim_id(request), duration)
    return web.json_response(lock_json(lock), status=201 if created else 200)


async def lock_status(request: web.Request) -> web.Response:
    lock = await request.app[SERVICES].locks.status(request[PRINCIPAL], sim_id(request))
    return web.json_response(lock_json(lock) if lock is not None else UNLOCKED)


async def release_lock(request: web.Request) -> web.Response:
    await request.app[SERVICES].locks.release(request[PRINCIPAL], sim_id(request))
    return web.json_response(UNLOCKED)


def add_routes(app: web.Application) -> None:
    path = f"/api/sims/{SIM_ID_PATTERN}/lock"
    app.router.add_post(path, acquire_lock)
    app.router.add_get(path, lock_status)
    app.router.add_delete(path, release_lock)
