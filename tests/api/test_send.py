"""`POST /api/sims/{id}/messages`: a queued row for the outbound engine, only for the lock holder, with
E.164 and segment limits; and reading is refused while another user holds the lock."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim, Message
from tests.api.conftest import World
from tests.api.contract import ApiClient
from tests.api.people import colleague


def messages_path(world: World) -> str:
    return f"/api/sims/{world.seeded.acme_sim}/messages"


async def lock(api: ApiClient, world: World, token: str) -> None:
    assert (await api.call("POST", f"/api/sims/{world.seeded.acme_sim}/lock", token)).status == 201


async def test_the_holder_queues_a_message(api: ApiClient, world: World) -> None:
    await lock(api, world, world.seeded.acme_key)
    reply = await api.call("POST", messages_path(world), world.seeded.acme_key,
                           json={"to": "+44 7911 123456", "text": "Hello ☺"})
    assert reply.status == 202
    data = reply.body["data"]
    assert (data["direction"], data["status"], data["to"], data["segments"]) == (
        "outbound", "queued", "+447911123456", 1)
    assert (data["from"], data["encoding"]) == ("+4915112345001", "ucs2")
    # The row the modem engine claims: committed, queued, on this SIM.
    sessions = world.services.messages._sessions  # the same database the app uses
    async with read_transaction(sessions) as session:
        row = await session.scalar(select(Message).where(Message.id == data["id"]))
    assert row is not None and (row.hosted_sim_id, row.status, row.recipient) == (
        world.seeded.acme_sim, "queued", "+447911123456")
    page = await api.get(messages_path(world) + "?per_page=1", world.seeded.acme_key)
    assert page.body["data"][0]["id"] == data["id"]  # newest first


async def test_without_the_lock_it_is_409(api: ApiClient, world: World) -> None:
    reply = await api.call("POST", messages_path(world), world.seeded.acme_key,
                           json={"to": "+447911123456", "text": "hi"})
    assert reply.status == 409


async def test_another_users_lock_blocks_sending_and_reading(api: ApiClient, world: World) -> None:
    bob = await colleague(world, "bob")
    await lock(api, world, bob.token)
    send = await api.call("POST", messages_path(world), world.seeded.acme_token,
                          json={"to": "+447911123456", "text": "hi"})
    assert (send.status, send.body["user_name"]) == (409, "bob")
    read = await api.get(messages_path(world), world.seeded.acme_token)
    assert (read.status, read.body["user_name"]) == (409, "bob")
    assert (await api.get(messages_path(world), bob.token)).status == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"to": "12345", "text": "hi"}, "to"),
    ({"to": "+1234567890", "text": "hi"}, "to"),  # the reference's sample is not a real number
    ({"to": "+447911123456", "text": ""}, "text"),
    ({"to": "+447911123456"}, "text"),
    ({"to": "+447911123456", "text": "x" * 1601}, "text"),
    ({"to": "+447911123456", "text": "☺" * 671}, "text"),  # 11 UCS-2 segments of 67
    ({"to": "+447911123456", "text": "\ud800"}, "text"),  # a lone surrogate cannot be encoded
])
async def test_invalid_input_is_422_naming_the_field(api: ApiClient, world: World, body: dict[str, str],
                                                     field: str) -> None:
    await lock(api, world, world.seeded.acme_key)
    reply = await api.call("POST", messages_path(world), world.seeded.acme_key, json=body)
    assert reply.status == 422 and list(reply.body["errors"]) == [field], reply.body


async def test_ten_segments_pass(api: ApiClient, world: World) -> None:
    await lock(api, world, world.seeded.acme_key)
    reply = await api.call("POST", messages_path(world), world.seeded.acme_key,
                           json={"to": "+447911123456", "text": "a" * 1530})  # 10 x 153 GSM-7 septets
    assert (reply.status, reply.body["data"]["segments"]) == (202, 10)


async def test_a_byos_sim_cannot_send(api: ApiClient, world: World) -> None:
    sessions = world.services.messages._sessions
    async with write_transaction(sessions) as session:
        sim = await session.get(HostedSim, world.seeded.acme_sim)
        assert sim is not None
        sim.type = "byos"
    await lock(api, world, world.seeded.acme_key)
    reply = await api.call("POST", messages_path(world), world.seeded.acme_key,
                           json={"to": "+447911123456", "text": "hi"})
    assert reply.status == 422 and "hosted_sim" in reply.body["errors"]
