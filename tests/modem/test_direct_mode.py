"""Delivery modes through a supervisor on a pty: `+CMT` committed and only then acknowledged with AT+CNMA,
`+CDS` status reports applied and acknowledged, `+CDSI` stored reports read and deleted (TS 27.005 §3.4.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from gatewayd.fakemodem.bank import FakeBank
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.supervisor import ModemSupervisor, SupervisorSettings
from gatewayd.services.gateway import ReceivedSms
from gatewayd.store.models import Message
from tests.services.conftest import Stack
from tests.system.conftest import poll_until

GENERIC = load_profiles(shipped_hardware_directory() / "modems")["generic"]
# AT+CSMS=1 (phase 2+) makes the modem wait for AT+CNMA after each routed +CMT/+CDS.
DIRECT = replace(GENERIC, init_commands=("AT+CSMS=1",), new_message_indication="AT+CNMI=2,2,0,1,0",
                 delivery_mode="direct", ack_direct=True)  # fmt: skip
STORED_REPORTS = replace(GENERIC, new_message_indication="AT+CNMI=2,1,0,2,0",
                         status_report_indication="stored")  # fmt: skip
SETTINGS = SupervisorSettings(poll_interval_s=60, sweep_interval_s=60, outbox_check_s=0.2)


@asynccontextmanager
async def supervised(
    stack: Stack, tmp_path: Path, profile: ModemProfile
) -> AsyncIterator[tuple[ModemSupervisor, FakeBank]]:
    async with FakeBank(1, tmp_path / "bank") as bank:
        recorder = stack.services.gateway
        supervisor = ModemSupervisor(str(bank[0].path), profile, recorder, stack.clock, SETTINGS)
        task = asyncio.create_task(supervisor.run())
        try:
            async with asyncio.timeout(15):
                await supervisor.ready.wait()
            yield supervisor, bank
        finally:
            supervisor.stop()
            async with asyncio.timeout(10):
                await task


async def inbound_texts(stack: Stack) -> list[str]:
    async with stack.sessions() as session:
        rows = await session.scalars(select(Message.text).where(Message.direction == "inbound"))
        return [text for text in rows if text is not None]


async def test_a_routed_sms_is_committed_before_it_is_acknowledged(stack: Stack, tmp_path: Path) -> None:
    acks_at_commit: list[int] = []
    seen: list[FakeBank] = []
    store = stack.services.gateway.store_received

    async def watched(sim: int, items: Sequence[ReceivedSms]) -> list[int]:
        ids = await store(sim, items)
        acks_at_commit.append(seen[0][0].modem.commands_seen["+CNMA"])  # acks sent by the time it committed
        return ids

    stack.services.gateway.store_received = watched  # type: ignore[method-assign]
    async with supervised(stack, tmp_path, DIRECT) as (_, bank):
        seen.append(bank)
        for number in range(3):
            bank.inject(0, "+4915112345678", f"direct {number}")
            await poll_until(lambda count=number + 1: _acks(bank, count), timeout_s=10)  # type: ignore[misc]
        assert sorted(await inbound_texts(stack)) == ["direct 0", "direct 1", "direct 2"]
        assert acks_at_commit == [0, 1, 2]  # each commit happened before its own AT+CNMA
        assert bank[0].modem.storage_used == 0  # routed, never stored


async def send_and_report(stack: Stack, supervisor: ModemSupervisor, bank: FakeBank) -> int:
    """Queue one SMS for the modem's SIM, wait for AT+CMGS, have the network report it delivered."""
    assert supervisor.status.hosted_sim_id is not None
    queued = await stack.services.outbound.queue(
        hosted_sim_id=supervisor.status.hosted_sim_id, recipient="+4915112345678", text="report me"
    )
    modem = bank[0].modem

    async def submitted() -> bool:
        return len(modem.submitted) == 1

    await poll_until(submitted, timeout_s=10)

    async def sent() -> bool:
        async with stack.sessions() as session:
            row = await session.get(Message, queued.id)
            return row is not None and row.status == "sent"

    await poll_until(sent, timeout_s=10)  # the TP-MR is recorded before the report can match it
    assert modem.report_delivery(modem.submitted[0].mr, status=0)
    bank[0].port.pump()
    return queued.id


async def status_of(stack: Stack, message_id: int) -> str:
    async with stack.sessions() as session:
        row = await session.get(Message, message_id)
        assert row is not None
        return row.status


async def test_a_routed_status_report_delivers_and_is_acknowledged(stack: Stack, tmp_path: Path) -> None:
    async with supervised(stack, tmp_path, DIRECT) as (supervisor, bank):
        message_id = await send_and_report(stack, supervisor, bank)

        async def delivered() -> bool:
            return await status_of(stack, message_id) == "delivered"

        await poll_until(delivered, timeout_s=10)
        await poll_until(lambda: _acks(bank, 1), timeout_s=10)


async def test_a_stored_status_report_is_read_applied_and_deleted(stack: Stack, tmp_path: Path) -> None:
    async with supervised(stack, tmp_path, STORED_REPORTS) as (supervisor, bank):
        message_id = await send_and_report(stack, supervisor, bank)

        async def delivered_and_deleted() -> bool:
            return await status_of(stack, message_id) == "delivered" and bank[0].modem.storage_used == 0

        await poll_until(delivered_and_deleted, timeout_s=10)
        assert bank[0].modem.commands_seen["+CNMA"] == 0  # stored reports need no acknowledgement


async def _acks(bank: FakeBank, count: int) -> bool:
    return bank[0].modem.commands_seen["+CNMA"] >= count
