"""`GET /api/sims` and `GET /api/sims/{hosted_sim}`: shape, scoping, and 404 outside the organisation."""

from __future__ import annotations

import pytest

from tests.api.conftest import ACME_MESSAGES, World
from tests.api.contract import ApiClient


@pytest.mark.parametrize("who", ["acme_key", "acme_token"])
async def test_list_shows_exactly_the_callers_sims(api: ApiClient, world: World, who: str) -> None:
    reply = await api.get("/api/sims", token=getattr(world.seeded, who))
    assert reply.status == 200
    ids = {sim["id"] for sim in reply.body["data"]}
    assert ids == {world.seeded.acme_sim, world.seeded.acme_empty_sim}


async def test_sim_object_has_every_field_clients_read(api: ApiClient, world: World) -> None:
    reply = await api.get(f"/api/sims/{world.seeded.acme_sim}", token=world.seeded.acme_key)
    assert reply.status == 200
    sim = reply.body
    assert sim["phone_number"] == sim["seven_system_number"] == "+4915112345001"
    assert sim["country"] == "DE"
    assert sim["provider"] == "Vodafone"
    assert sim["type"] == "physical"
    assert sim["messages_received_count"] == ACME_MESSAGES
    assert [org["name"] for org in sim["organizations"]] == ["acme"]
    assert [team["name"] for team in sim["teams"]] == ["ops"]
    assert sim["iccid"] == "8949000000000000001"


@pytest.mark.parametrize("path", ["/api/sims/{sim}", "/api/sims/{sim}/messages"])
async def test_other_organisations_sim_is_404_without_data(api: ApiClient, world: World, path: str) -> None:
    reply = await api.get(path.replace("{sim}", str(world.seeded.globex_sim)), token=world.seeded.acme_key)
    assert (reply.status, reply.body) == (404, {"message": "Not Found."})


async def test_unknown_and_non_numeric_ids_are_404(api: ApiClient, world: World) -> None:
    for sim in ("999999", "abc", "9" * 30, "-1"):
        reply = await api.get(f"/api/sims/{sim}", token=world.seeded.acme_key)
        assert (reply.status, reply.body) == (404, {"message": "Not Found."}), sim


async def test_globex_sees_its_own_sim_only(api: ApiClient, world: World) -> None:
    reply = await api.get("/api/sims", token=world.seeded.globex_key)
    assert [sim["id"] for sim in reply.body["data"]] == [world.seeded.globex_sim]


async def test_status_reads_locked_while_a_live_lock_is_held(api: ApiClient, world: World) -> None:
    sim, key = world.seeded.acme_sim, world.seeded.acme_key

    async def statuses() -> tuple[str, str]:
        shown = await api.get(f"/api/sims/{sim}", token=key)
        listed = await api.get("/api/sims", token=key)
        return shown.body["status"], next(s["status"] for s in listed.body["data"] if s["id"] == sim)

    assert await statuses() == ("active", "active")
    assert (await api.call("POST", f"/api/sims/{sim}/lock", key, json={"duration_seconds": 60})).status == 201
    assert await statuses() == ("locked", "locked")
    await api.call("DELETE", f"/api/sims/{sim}/lock", key)
    assert await statuses() == ("active", "active")
    await api.call("POST", f"/api/sims/{sim}/lock", key, json={"duration_seconds": 60})
    world.clock.advance(60)  # expired: no sweep needed for the status to say so
    assert await statuses() == ("active", "active")
