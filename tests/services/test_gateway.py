"""GatewayRecorder: modems and SIMs upserted by identity, inbound SMS stored once, concurrency-safe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from gatewayd.services.container import Services
from gatewayd.services.gateway import ReceivedSms, country_of
from gatewayd.store.engine import create_engine, read_transaction, session_factory
from gatewayd.store.models import HostedSim, Message
from gatewayd.store.models_engine import InboundPart
from tests.services.conftest import Stack
from tests.services.world import physical_sim

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sms(key: str, minutes: int = 0, *, concat: tuple[int, int, int] | None = None) -> ReceivedSms:
    return ReceivedSms(
        identity_key=key, sender="+447700900001", text=f"text of {key}", data=None, encoding="gsm7",
        received_at=T0 + timedelta(minutes=minutes), concat=concat,
    )  # fmt: skip


async def message_count(stack: Stack) -> int:
    async with read_transaction(stack.sessions) as session:
        return await session.scalar(select(func.count(Message.id))) or 0


async def test_store_received_skips_identities_already_stored(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", "8944000000000000001", "+447700900100")
    first = await stack.services.gateway.store_received(sim_id, [sms("a"), sms("b")])
    again = await stack.services.gateway.store_received(sim_id, [sms("b"), sms("c"), sms("c")])
    assert len(first) == 2
    assert len(again) == 1 and again[0] not in first
    assert await message_count(stack) == 3


async def test_two_concurrent_stores_of_the_same_sms_make_one_row(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", "8944000000000000001")
    batch = [sms(f"race-{n}", n) for n in range(20)]
    results = await asyncio.gather(*(stack.services.gateway.store_received(sim_id, batch) for _ in range(4)))
    stored = [new_id for result in results for new_id in result]
    assert len(stored) == len(set(stored)) == 20
    assert await message_count(stack) == 20


async def test_overlapping_batches_in_opposite_orders_neither_deadlock_nor_duplicate(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", "8944000000000000001")
    batch = [sms(f"swept-{n:02}", n) for n in range(30)]
    forward, backward = await asyncio.gather(
        stack.services.gateway.store_received(sim_id, batch),
        stack.services.gateway.store_received(sim_id, batch[::-1]),
    )
    assert sorted(forward + backward) == sorted(set(forward + backward))
    assert await message_count(stack) == 30


async def test_a_stored_batch_is_durable_for_a_new_engine(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", "8944000000000000001", "+447700900100")
    (new_id,) = await stack.services.gateway.store_received(sim_id, [sms("durable")])
    # A part of a concatenated SMS is kept for reassembly, not yet a message (issue 3).
    assert await stack.services.gateway.store_received(sim_id, [sms("part", concat=(7, 3, 2))]) == []
    other = create_engine(stack.url)  # another connection pool: sees only what was committed
    try:
        async with read_transaction(session_factory(other)) as session:
            row = await session.get(Message, new_id)
            assert row is not None
            assert (row.direction, row.recipient, row.received_at) == ("inbound", "+447700900100", T0)
            part = await session.scalar(select(InboundPart))
            assert part is not None and (part.reference, part.total, part.sequence) == (7, 3, 2)
    finally:
        await other.dispose()


async def test_a_sim_keeps_its_id_when_seen_in_another_modem(services: Services) -> None:
    first = await physical_sim(services, "860000000000001", "8944000000000000001", "+447700900100")
    second = await physical_sim(services, "860000000000002", "8944000000000000001")
    assert second == first
    modems = {m.imei: m for m in await services.gateway.list_modems()}
    assert modems["860000000000001"].hosted_sim_id is None
    assert modems["860000000000002"].hosted_sim_id == first
    assert modems["860000000000002"].iccid == "8944000000000000001"


async def test_a_swapped_out_sim_goes_offline(stack: Stack) -> None:
    old = await physical_sim(stack.services, "860000000000001", "8944000000000000001")
    new = await physical_sim(stack.services, "860000000000001", "8944000000000000002")
    async with read_transaction(stack.sessions) as session:
        statuses = dict((await session.execute(select(HostedSim.id, HostedSim.status))).all())
    assert statuses == {old: "offline", new: "active"}


async def test_concurrent_sightings_of_one_modem_and_sim_make_one_row_each(services: Services) -> None:
    sim_ids = await asyncio.gather(
        *(physical_sim(services, "860000000000001", "8944000000000000001") for _ in range(8))
    )
    assert len(set(sim_ids)) == 1
    assert len(await services.gateway.list_modems()) == 1


async def test_status_is_mirrored_onto_the_sim_and_modem_gone_takes_it_offline(stack: Stack) -> None:
    gateway = stack.services.gateway
    sim_id = await physical_sim(stack.services, "860000000000001", "8944000000000000001")
    (modem,) = await gateway.list_modems()
    stack.clock.advance(30)
    await gateway.modem_status(
        modem.id, state="ready", signal_strength=61, registration="home", operator="EE",
        storage_used=3, storage_total=50,
    )  # fmt: skip
    assert await stack.services.health.modem_counts() == (1, 1)
    await gateway.modem_gone(modem.id, state="unplugged")
    async with read_transaction(stack.sessions) as session:
        sim = await session.get(HostedSim, sim_id)
        assert sim is not None
        assert (sim.signal_strength, sim.provider, sim.status) == (61, "EE", "offline")
        assert sim.last_seen_at == T0.replace(year=2026, month=1, day=1, hour=0) + timedelta(seconds=30)
    assert await stack.services.health.modem_counts() == (0, 1)


async def test_modem_seen_again_on_another_port_keeps_its_id(services: Services) -> None:
    first = await services.gateway.modem_seen(
        imei="860000000000009", port="/dev/ttyUSB2", usb_path="1-1.2", manufacturer="SIMCOM", model="SIM800",
        revision=None,
    )  # fmt: skip
    again = await services.gateway.modem_seen(
        imei="860000000000009", port="/dev/ttyUSB7", usb_path="1-1.4", manufacturer=None, model=None,
        revision="1418B05",
    )  # fmt: skip
    (modem,) = await services.gateway.list_modems()
    assert again == first == modem.id
    assert (modem.port, modem.usb_path, modem.manufacturer, modem.model) == (
        "/dev/ttyUSB7", "1-1.4", "SIMCOM", "SIM800"
    )  # fmt: skip


def test_country_is_derived_from_the_number() -> None:
    assert country_of("+33612345678") == "FR"
    assert country_of("+12025550123") == "US"
    assert country_of("+447700900123") == "GB"  # Ofcom drama range: not "valid", still +44
    assert country_of("not a number") is None
    assert country_of(None) is None
