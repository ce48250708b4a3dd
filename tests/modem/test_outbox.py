"""The outbox over a FakeModem: claim → AT+CMGS per part → TP-MR → +CDS reports; retries, failures, quotas."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

from sqlalchemy import select

from gatewayd.at.session import AtSession
from gatewayd.fakemodem.dialect import ModemFaults
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.modem.driver import ModemDriver
from gatewayd.modem.outbox import MAX_SEND_ATTEMPTS, Outbox, SendPolicy
from gatewayd.sms.pdu import decode_status_report, decode_submit
from gatewayd.store.models import Message
from gatewayd.store.models_engine import OutboundPart
from tests.modem.links import MemoryLink
from tests.services.conftest import Stack
from tests.services.world import physical_sim

IDENTITY = ModemIdentity.for_index(2)
UCS2_LONG = "Grüße 👋 " * 12  # UCS-2 with surrogate pairs, two parts
NO_POLICY = SendPolicy()


async def online(stack: Stack, modem: FakeModem, policy: SendPolicy = NO_POLICY) -> tuple[Outbox, int]:
    driver = ModemDriver(AtSession(), stack.clock, on_unsolicited=lambda urc: None)
    MemoryLink(driver, modem)
    for command in ("ATE0", "AT+CMGF=0", "AT+CNMI=2,1,0,1,0"):
        await driver.run(command)
    sim_id = await physical_sim(stack.services, IDENTITY.imei, IDENTITY.iccid, "+447700900100")
    outbox = Outbox(
        driver,
        stack.services.outbound,
        hosted_sim_id=sim_id,
        clock=stack.clock,
        policy=policy,
        cmgs_timeout_s=5,
    )
    return outbox, sim_id


async def message(stack: Stack, message_id: int) -> Message:
    async with stack.sessions() as session:
        row = await session.get(Message, message_id)
        assert row is not None
        return row


async def test_a_multipart_message_is_sent_and_delivered_only_when_every_part_is(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    outbox, sim_id = await online(stack, modem)
    queued = await stack.services.outbound.queue(
        hosted_sim_id=sim_id, recipient="+4915112345678", text=UCS2_LONG
    )
    assert queued.segments == 2 and queued.encoding == "ucs2"
    assert await outbox.send_due() == 1
    submitted = [decode_submit(s.pdu) for s in modem.submitted]
    assert [s.concat.sequence for s in submitted if s.concat] == [1, 2]
    assert all(s.status_report and s.recipient == "+4915112345678" for s in submitted)
    assert b"".join(s.data for s in submitted).decode("utf-16-be") == UCS2_LONG
    assert (await message(stack, queued.id)).status == "sent"

    first, second = modem.submitted
    report = decode_status_report(_report_pdu(modem, first.mr))
    await stack.services.outbound.apply_status_report(sim_id, report.message_reference, report.status)
    assert (await message(stack, queued.id)).status == "sent"  # one part of two is not delivered
    await stack.services.outbound.apply_status_report(sim_id, second.mr, 0)
    assert (await message(stack, queued.id)).status == "delivered"
    async with stack.sessions() as session:
        parts = list(await session.scalars(select(OutboundPart).order_by(OutboundPart.sequence)))
    assert [(p.message_reference, p.status) for p in parts] == [
        (first.mr, "delivered"),
        (second.mr, "delivered"),
    ]


def _report_pdu(modem: FakeModem, mr: int) -> str:
    """The +CDS PDU the fake SC sends for TP-MR `mr`."""
    assert modem.report_delivery(mr, 0)
    lines = modem.data_to_send().decode().split("\r\n")
    return next(line for line in lines if line and not line.startswith(("+CDS", "OK")))


async def test_a_failed_report_fails_the_message_with_the_status(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    outbox, sim_id = await online(stack, modem)
    queued = await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text="hi")
    await outbox.send_due()
    (sent,) = modem.submitted
    assert await stack.services.outbound.apply_status_report(sim_id, sent.mr, 0x21) is None  # SC still trying
    assert await stack.services.outbound.apply_status_report(sim_id, sent.mr, 0x41) == "failed"
    row = await message(stack, queued.id)
    assert row.status == "failed" and row.error is not None and "0x41" in row.error


async def test_transient_cms_errors_retry_with_backoff_then_give_up(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    modem.faults = ModemFaults(command_errors=MappingProxyType({"+CMGS": 42}))  # congestion: transient
    outbox, sim_id = await online(stack, modem)
    queued = await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text="hi")
    assert await outbox.send_due() == 0
    row = await message(stack, queued.id)
    assert (row.status, row.send_attempts) == ("queued", 1)
    assert row.error == "+CMS ERROR 42 (Congestion)" and row.next_attempt_at is not None
    assert (
        await outbox.send_due() == 0 and (await message(stack, queued.id)).send_attempts == 1
    )  # not yet due
    for _ in range(MAX_SEND_ATTEMPTS):
        stack.clock.advance(3600)
        await outbox.send_due()
    row = await message(stack, queued.id)
    assert row.status == "failed" and row.send_attempts == MAX_SEND_ATTEMPTS
    assert row.error is not None and row.error.startswith("+CMS ERROR 42 (Congestion); gave up")


async def test_a_permanent_cms_error_fails_at_once_with_code_and_meaning(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    modem.faults = ModemFaults(command_errors=MappingProxyType({"+CMGS": 1}))
    outbox, sim_id = await online(stack, modem)
    queued = await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text="hi")
    await outbox.send_due()
    row = await message(stack, queued.id)
    assert (row.status, row.error) == ("failed", "+CMS ERROR 1 (Unassigned (unallocated) number)")


async def test_policy_interval_and_hourly_quota(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    outbox, sim_id = await online(stack, modem, SendPolicy(min_interval_s=10, jitter_s=5, hourly_quota=2))
    for n in range(3):
        await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text=f"m{n}")
    assert await outbox.send_due() == 1  # then the interval holds the next one back
    wait = await outbox.seconds_until_due()
    assert wait is not None and 10 <= wait <= 15
    stack.clock.advance(15)
    assert await outbox.send_due() == 1
    stack.clock.advance(15)
    assert await outbox.send_due() == 0 and len(modem.submitted) == 2  # quota: 2 parts per hour
    stack.clock.advance(3600)
    assert await outbox.send_due() == 1


async def test_two_claimers_never_both_win(stack: Stack) -> None:
    sim_id = await physical_sim(stack.services, IDENTITY.imei, IDENTITY.iccid)
    queued = await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text="x")
    claims = await asyncio.gather(*(stack.services.outbound.claim_next(sim_id) for _ in range(6)))
    winners = [c for c in claims if c is not None]
    assert [w.id for w in winners] == [queued.id]
    assert await stack.services.outbound.requeue_interrupted(sim_id) == [queued.id]
    again = await stack.services.outbound.claim_next(sim_id)
    assert again is not None and again.attempts == 2
