"""The recovery ladder end to end over ptys: a modem that goes mute climbs reinit → reset → reopen →
quarantine (usb_reset skipped: a pty is no USB device), each step counted in its status, in modem_health
and through the observer, while its neighbour keeps receiving; stop() ends a quarantined supervisor at once.
The supervisors run on the system clock: command timeouts are what this test is about."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from gatewayd.clock import SystemClock
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.dialect import ModemFaults
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import CommandTimeouts
from gatewayd.modem.observer import NullObserver
from gatewayd.modem.supervisor import ModemSupervisor, SupervisorSettings
from gatewayd.store.models import Message
from tests.services.conftest import Stack
from tests.system.conftest import poll_until

GENERIC = load_profiles(shipped_hardware_directory() / "modems")["generic"]
# Short timeouts and a fast watchdog, so a mute modem is noticed within a second and each rung is quick.
QUICK = replace(GENERIC, watchdog_interval_s=0.2, timeouts=CommandTimeouts(
    default_s=0.3, cmgs_s=0.5, cmgl_s=0.5, cops_s=0.5, init_s=0.5))  # fmt: skip
SETTINGS = SupervisorSettings(poll_interval_s=0.2, sweep_interval_s=60, probe_timeout_s=0.2,
                              reset_settle_s=0.1, reopen_wait_s=0.1, quarantine_s=3600,
                              late_response_grace_s=0.1)  # fmt: skip


class RecordingObserver(NullObserver):
    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []

    def recovery(self, port: str, step: str, reason: str) -> None:
        self.steps.append((port, step))


async def inbound_texts(stack: Stack) -> list[str]:
    async with stack.sessions() as session:
        return [t for t in await session.scalars(select(Message.text)) if t is not None]


def start(stack: Stack, bank: FakeBank, index: int, observer: RecordingObserver) -> ModemSupervisor:
    return ModemSupervisor(str(bank[index].path), QUICK, stack.services.gateway, SystemClock(), SETTINGS,
                           observer=observer)  # fmt: skip


async def test_a_mute_modem_climbs_to_quarantine_without_holding_up_its_neighbour(
    stack: Stack, tmp_path: Path
) -> None:
    observer = RecordingObserver()
    async with FakeBank(2, tmp_path / "bank") as bank:
        supervisors = [start(stack, bank, index, observer) for index in range(2)]
        tasks = [asyncio.create_task(s.run()) for s in supervisors]
        try:
            async with asyncio.timeout(15):
                await asyncio.gather(*(s.ready.wait() for s in supervisors))
            mute, healthy = supervisors
            bank[0].modem.faults = ModemFaults(mute=True)

            async def quarantined() -> bool:
                return mute.status.state == "quarantined"

            for number in range(3):  # the neighbour receives while the ladder is being climbed
                bank.inject(1, "+4915112345678", f"still here {number}")
            await poll_until(quarantined, timeout_s=30)
            texts = await poll_until(lambda: _at_least(stack, 3), timeout_s=10)
            assert sorted(texts) == ["still here 0", "still here 1", "still here 2"]
            assert healthy.status.state == "ready" and bank[1].modem.storage_used == 0

            expected = ["reinit", "reset", "reopen", "quarantine"]
            assert [step for port, step in observer.steps if port == mute.port] == expected
            assert {f"recovery.{step}": 1 for step in expected}.items() <= mute.status.counters.items()
            assert mute.status.modem_id is not None
            health = (await stack.services.gateway.modem_health())[mute.status.modem_id]
            assert (health.reinit, health.reset, health.reopen, health.usb_reset, health.quarantine) == (
                1, 1, 1, 0, 1)  # fmt: skip
            assert health.last_reason is not None and health.last_reason.startswith("quarantine:")
        finally:
            for supervisor in supervisors:
                supervisor.stop()
            async with asyncio.timeout(3):  # a quarantine of an hour must not hold up shutdown
                await asyncio.gather(*tasks)


async def _at_least(stack: Stack, count: int) -> Sequence[str] | None:
    texts = await inbound_texts(stack)
    return texts if len(texts) >= count else None
