"""`GET /api/sims/{hosted_sim}/messages`: a SIM's messages, newest first, as a Laravel page.

Validates paging input and serialises; which messages the caller may see is the service's decision.
"""

from __future__ import annotations

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES, SETTINGS
from api.pagination import paginated_body, public_url
from api.requests import page_request
from api.schemas import message_json
from api.sims import SIM_ID_PATTERN, sim_id


async def list_messages(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    wanted = page_request(request.query, default_per_page=settings.default_per_page,
                          max_per_page=settings.max_per_page)
    page = await request.app[SERVICES].messages.page_for(request[PRINCIPAL], sim_id(request),
                                                         page=wanted.page, per_page=wanted.per_page)
    body = paginated_body(page.items, message_json, total=page.total, page=page.page, per_page=page.per_page,
                          url=public_url(request, settings.public_base_url))
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"/api/sims/{SIM_ID_PATTERN}/messages", list_messages)
