"""Reassembly in the store: parts in any order and any batches, across a restart, one message and one event;
expired groups become one `incomplete` message; re-reads after completion stay no-ops."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from gatewayd.events import LocalEventBus, MessageReceived
from gatewayd.modem.inbox import received_from
from gatewayd.services.gateway import GatewayRecorder, ReceivedSms
from gatewayd.sms.pdu import Deliver, decode_deliver, encode_deliver_parts
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.models import Message
from tests.services.conftest import Stack
from tests.services.world import physical_sim

ICCID = "8944000000000000001"
SENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parts(
    text: str | bytes, *, reference: int = 7, bits: int = 8, sender: str = "+4915112345678"
) -> list[ReceivedSms]:
    pdus = encode_deliver_parts(
        sender, text, sc_timestamp=SENT.astimezone(_offset(2)), reference=reference, reference_bits=bits
    )
    delivered: list[Deliver] = [decode_deliver(pdu, with_smsc=True) for pdu in pdus]
    return [received_from(d, ICCID) for d in delivered]


def _offset(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


async def inbound(stack: Stack) -> list[Message]:
    async with stack.sessions() as session:
        return list(await session.scalars(select(Message).where(Message.direction == "inbound")))


@pytest.mark.parametrize("bits", [8, 16])
async def test_parts_in_every_order_and_batching_make_one_message_and_one_event(
    stack: Stack, bits: int
) -> None:
    text = "Grüße 👋 aus dem Netz, " * 8  # UCS-2, three parts, a surrogate pair may straddle a boundary
    pieces = parts(text, bits=bits, reference=300 if bits == 16 else 7)
    assert len(pieces) == 3
    bus = LocalEventBus()
    subscription = bus.subscribe()
    recorder = GatewayRecorder(stack.sessions, stack.clock, bus=bus)
    sim_id = await physical_sim(stack.services, "860000000000001", ICCID, "+447700900100")
    for round_number, order in enumerate(itertools.permutations(pieces)):
        # A fresh SIM key per order: identities differ, so every permutation is a new message.
        key = f"round-{round_number}"
        batch = [_rekey(p, key) for p in order]
        ids = await recorder.store_received(sim_id, batch[:1])
        ids += await recorder.store_received(sim_id, batch[1:])
        assert len(ids) == 1
        assert await recorder.store_received(sim_id, batch) == []  # a re-read after completion: no-op
    messages = await inbound(stack)
    assert len(messages) == 6
    assert {m.text for m in messages} == {text}
    assert {m.received_at for m in messages} == {SENT}  # SC timestamp with +02:00 → UTC
    assert all(m.status == "received" and m.segments == 3 for m in messages)
    events = [subscription._queue.get_nowait() for _ in range(subscription._queue.qsize())]
    assert sorted(e.message_id for e in events if isinstance(e, MessageReceived)) == sorted(
        m.id for m in messages
    )


def _rekey(item: ReceivedSms, key: str) -> ReceivedSms:
    return replace(item, identity_key=f"{key}:{item.identity_key}")


async def test_parts_survive_a_restart(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", ICCID)
    first, second = parts("x" * 200)
    assert await stack.services.gateway.store_received(sim_id, [second]) == []
    other = create_engine(stack.url)  # "after the restart": a new engine, nothing in memory
    try:
        recorder = GatewayRecorder(session_factory(other), stack.clock)
        assert len(await recorder.store_received(sim_id, [first])) == 1
    finally:
        await other.dispose()
    assert [m.text for m in await inbound(stack)] == ["x" * 200]


async def test_a_group_missing_a_part_expires_as_one_incomplete_message(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", ICCID)
    one, _, three = parts("y" * 400)
    await stack.services.gateway.store_received(sim_id, [three, one])
    stack.clock.advance(599)
    assert await stack.services.gateway.expire_incomplete(sim_id, timeout_s=600) == []
    stack.clock.advance(1)
    (expired,) = await stack.services.gateway.expire_incomplete(sim_id, timeout_s=600)
    (row,) = await inbound(stack)
    assert row.id == expired and row.status == "incomplete" and row.text == one.text + (three.text or "")
    assert await stack.services.gateway.expire_incomplete(sim_id, timeout_s=600) == []
    assert await stack.services.gateway.store_received(sim_id, [one]) == []  # a late re-read: still a no-op


async def test_a_reused_reference_after_completion_starts_a_new_message(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", ICCID)
    for text in ("a" * 200, "b" * 200):  # the carrier reuses reference 7 for the same sender
        assert len(await stack.services.gateway.store_received(sim_id, parts(text))) == 1
    assert sorted(m.text or "" for m in await inbound(stack)) == ["a" * 200, "b" * 200]


async def test_eight_bit_data_is_kept_as_bytes(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", ICCID)
    payload = bytes(range(256)) * 2
    await stack.services.gateway.store_received(sim_id, parts(payload))
    (row,) = await inbound(stack)
    assert (row.text, row.data, row.encoding) == (None, payload, "8bit")


async def test_a_sim_without_pending_parts_is_checked_again_once_a_part_arrives(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, "860000000000001", ICCID)
    gateway = stack.services.gateway
    assert await gateway.expire_incomplete(sim_id, timeout_s=600) == []  # nothing pending: now skipped
    first, _ = parts("z" * 200, reference=9)
    await gateway.store_received(sim_id, [first])  # a part arrives: the SIM must be looked at again
    stack.clock.advance(600)
    (expired,) = await gateway.expire_incomplete(sim_id, timeout_s=600)
    (row,) = await inbound(stack)
    assert row.id == expired and row.status == "incomplete"
