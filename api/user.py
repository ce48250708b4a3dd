"""`GET /api/user`: who the caller is, how they authenticated, their organisation and API key.

Reads through services.accounts only; the principal was set by the auth middleware.
"""

from __future__ import annotations

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES
from api.schemas import current_user_json


async def current_user(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    user, organization, api_key = await request.app[SERVICES].accounts.describe(principal)
    return web.json_response(current_user_json(user, organization, api_key, principal.auth_type))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/user", current_user)
