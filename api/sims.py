"""`GET /api/sims` and `GET /api/sims/{hosted_sim}`: the SIMs the caller may use.

Scoping is the service's job (it raises NotFound outside the caller's organisation or teams).
"""

from __future__ import annotations

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES
from api.schemas import sim_json

# At most 18 digits so the id always fits a 64-bit SQL integer; anything else is not a route (404).
SIM_ID_PATTERN = r"{hosted_sim:[0-9]{1,18}}"


def sim_id(request: web.Request) -> int:
    return int(request.match_info["hosted_sim"])


async def list_sims(request: web.Request) -> web.Response:
    sims = await request.app[SERVICES].sims.list_for(request[PRINCIPAL])
    return web.json_response({"data": [sim_json(sim) for sim in sims]})


async def show_sim(request: web.Request) -> web.Response:
    sim = await request.app[SERVICES].sims.get_for(request[PRINCIPAL], sim_id(request))
    return web.json_response(sim_json(sim))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/sims", list_sims)
    app.router.add_get(f"/api/sims/{SIM_ID_PATTERN}", show_sim)
