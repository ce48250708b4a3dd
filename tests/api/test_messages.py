"""`GET /api/sims/{hosted_sim}/messages`: newest first, Laravel pages, and 422s that name the field."""

from __future__ import annotations

import pytest
from yarl import URL

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import ACME_MESSAGES, ClientFactory, World
from tests.api.contract import ApiClient, Contract, Reply


async def page(api: ApiClient, world: World, query: str, sim: int | None = None) -> Reply:
    sim_id = world.seeded.acme_sim if sim is None else sim
    return await api.get(f"/api/sims/{sim_id}/messages{query}", token=world.seeded.acme_key)


async def test_default_page_is_50_newest_first(api: ApiClient, world: World) -> None:
    reply = await page(api, world, "")
    assert reply.status == 200
    received = [message["received_at"] for message in reply.body["data"]]
    assert len(received) == ACME_MESSAGES
    assert received == sorted(received, reverse=True)
    assert reply.body["meta"] == {"current_page": 1, "per_page": 50, "total": ACME_MESSAGES, "last_page": 1,
                                  "from": 1, "to": ACME_MESSAGES}
    newest = reply.body["data"][0]
    assert newest["direction"] == "inbound"
    assert newest["from"] == "+4915100000024"
    assert newest["to"] == "+4915112345001"
    assert newest["text"] == "acme message 24"
    assert newest["received_at"] == "2026-05-11T14:24:00Z"


async def test_pages_walk_the_whole_list_without_gaps(api: ApiClient, world: World) -> None:
    seen: list[int] = []
    url: str | None = f"/api/sims/{world.seeded.acme_sim}/messages?per_page=10"
    while url is not None:
        reply = await api.get(URL(url).path_qs, token=world.seeded.acme_key)
        seen += [message["id"] for message in reply.body["data"]]
        url = reply.body["links"]["next"]
    assert len(seen) == len(set(seen)) == ACME_MESSAGES


async def test_last_page_is_partial_and_has_no_next(api: ApiClient, world: World) -> None:
    reply = await page(api, world, "?per_page=10&page=3")
    assert len(reply.body["data"]) == 5
    assert reply.body["meta"] == {"current_page": 3, "per_page": 10, "total": 25, "last_page": 3,
                                       "from": 21, "to": 25}
    links = reply.body["links"]
    assert links["next"] is None
    assert URL(links["prev"]).query == {"per_page": "10", "page": "2"}
    assert URL(links["first"]).query["page"] == "1" and URL(links["last"]).query["page"] == "3"


async def test_page_past_the_end_is_empty(api: ApiClient, world: World) -> None:
    reply = await page(api, world, "?per_page=10&page=9")
    assert reply.body["data"] == []
    assert (reply.body["meta"]["from"], reply.body["meta"]["to"]) == (None, None)
    assert URL(reply.body["links"]["prev"]).query["page"] == "8"


async def test_sim_without_messages_is_one_empty_page(api: ApiClient, world: World) -> None:
    reply = await page(api, world, "", sim=world.seeded.acme_empty_sim)
    assert reply.body["data"] == []
    assert reply.body["meta"]["last_page"] == 1
    assert reply.body["links"]["prev"] is None and reply.body["links"]["next"] is None


async def test_limit_is_accepted_like_per_page(api: ApiClient, world: World) -> None:
    reply = await page(api, world, "?limit=7")
    assert (len(reply.body["data"]), reply.body["meta"]["per_page"]) == (7, 7)


@pytest.mark.parametrize(
    ("query", "field"),
    [("?per_page=0", "per_page"), ("?per_page=101", "per_page"), ("?page=0", "page"), ("?page=abc", "page"),
     ("?limit=0", "limit"), ("?limit=101", "limit"), ("?per_page=", None)],
)
async def test_bad_paging_is_422_naming_the_field(api: ApiClient, world: World, query: str,
                                                  field: str | None) -> None:
    reply = await page(api, world, query)
    if field is None:  # an empty value is "absent", as Laravel's nullable rules treat it
        assert reply.status == 200
        return
    assert reply.status == 422
    assert list(reply.body["errors"]) == [field]
    assert reply.body["message"] == reply.body["errors"][field][0]


async def test_public_base_url_is_used_in_links(world: World, contract: Contract,
                                                aiohttp_client: ClientFactory) -> None:
    settings = ApiSettings(public_base_url="https://sms.example.com")
    api = ApiClient(await aiohttp_client(create_app(world.services, settings, clock=world.clock)), contract)
    reply = await page(api, world, "?per_page=10")
    assert reply.body["links"]["next"] == (f"https://sms.example.com/api/sims/{world.seeded.acme_sim}/messages"
                                           "?per_page=10&page=2")
