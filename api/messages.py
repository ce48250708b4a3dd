"""`GET/POST /api/sims/{hosted_sim}/messages`: a SIM's messages newest first (a Laravel page), and
queueing an SMS to send through it.

Validates input and serialises; who may see or send what is the service's decision.
"""

from __future__ import annotations

import json

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES, SETTINGS
from api.pagination import paginated_body, public_url
from api.rendered_pages import RENDERED_PAGES
from api.requests import FieldErrors, page_request, read_json_object, string_field
from api.schemas import message_json
from api.sims import SIM_ID_PATTERN, sim_id
from gatewayd.services.messages import MAX_TEXT_CHARS


async def list_messages(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    wanted = page_request(request.query, default_per_page=settings.default_per_page,
                          max_per_page=settings.max_per_page)
    sim = sim_id(request)
    page = await request.app[SERVICES].messages.page_for(request[PRINCIPAL], sim, page=wanted.page,
                                                         per_page=wanted.per_page)
    url = public_url(request, settings.public_base_url)
    link_base, rendered = str(url), request.app[RENDERED_PAGES]
    body = rendered.get(sim, link_base, page)  # the same page object again: its bytes are unchanged
    if body is None:
        body = json.dumps(paginated_body(page.items, message_json, total=page.total, page=page.page,
                                         per_page=page.per_page, url=url)).encode()
        rendered.put(sim, link_base, page, body)
    return web.Response(body=body, content_type="application/json")


async def send_message(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    to = string_field(errors, body, "to", required=True, max_length=32)
    text = string_field(errors, body, "text", required=True, max_length=MAX_TEXT_CHARS)
    errors.raise_if_any()
    assert to is not None and text is not None
    message = await request.app[SERVICES].messages.send(request[PRINCIPAL], sim_id(request), to=to, text=text)
    return web.json_response({"data": message_json(message)}, status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"/api/sims/{SIM_ID_PATTERN}/messages", list_messages)
    app.router.add_post(f"/api/sims/{SIM_ID_PATTERN}/messages", send_message)
