"""Vendor dialects through a supervisor on a pty: a modem that reboots under us (boot lines, echo back on,
indications off) is initialised again and keeps receiving; vendor URC noise between and during commands
changes nothing. SIM800 announces its restart with RDY; a Huawei stick's ^BOOT is periodic noise (ignored
by its profile), so there the periodic AT+CMGL sweep is what finds the SMS that arrived after the reboot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from gatewayd.clock import SystemClock
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.dialect import HUAWEI_E3372, QUECTEL_EC25, SIMCOM_SIM800, ModemDialect
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.modem.supervisor import ModemSupervisor, SupervisorSettings
from gatewayd.store.models import Message
from tests.services.conftest import Stack
from tests.system.conftest import poll_until

PROFILES = load_profiles(shipped_hardware_directory() / "modems")
SETTINGS = SupervisorSettings(poll_interval_s=60, sweep_interval_s=0.5, probe_timeout_s=0.5,
                              reset_settle_s=0.1, reopen_wait_s=0.1, late_response_grace_s=0.1)  # fmt: skip


async def texts(stack: Stack) -> list[str]:
    async with stack.sessions() as session:
        return sorted(t for t in await session.scalars(select(Message.text)) if t is not None)


@pytest.mark.parametrize(
    ("profile", "dialect"),
    [("simcom-sim800", SIMCOM_SIM800), ("quectel-ec25", QUECTEL_EC25), ("huawei-e3372-stick", HUAWEI_E3372)],
)
async def test_a_reboot_and_urc_noise_do_not_lose_an_sms(
    stack: Stack, tmp_path: Path, profile: str, dialect: ModemDialect
) -> None:
    async with FakeBank(1, tmp_path / "bank", dialect=dialect) as bank:
        entry = bank[0]
        supervisor = ModemSupervisor(str(entry.path), PROFILES[profile], stack.services.gateway,
                                     SystemClock(), SETTINGS)  # fmt: skip
        task = asyncio.create_task(supervisor.run())
        try:
            async with asyncio.timeout(15):
                await supervisor.ready.wait()
            await poll_until(lambda: _polled(supervisor), timeout_s=10)  # the chained status poll
            status = supervisor.status
            assert (status.registration, status.storage_total) == ("registered_home", 30)
            for _ in range(3):  # vendor chatter around the traffic
                entry.modem.emit_noise()
            bank.inject(0, "+4915112345678", "before the reboot")
            await poll_until(lambda: _has(stack, "before the reboot"), timeout_s=10)

            entry.modem.reboot()  # boot lines out, echo back on, AT+CNMI forgotten
            for _ in range(3):
                entry.modem.emit_noise()
            entry.port.pump()
            bank.inject(0, "+4915112345678", "after the reboot 😀")
            await poll_until(lambda: _has(stack, "after the reboot 😀"), timeout_s=15)
            assert await texts(stack) == ["after the reboot 😀", "before the reboot"]
            await poll_until(lambda: _empty(bank), timeout_s=10)
            if PROFILES[profile].boot_urcs or dialect.boot_lines[0] == "RDY":
                # RDY ended the session: initialised again, indications back on, echo off again.
                assert supervisor.status.counters.get("recovery.reinit") == 1
                await poll_until(lambda: _initialised(bank), timeout_s=10)
        finally:
            supervisor.stop()
            async with asyncio.timeout(10):
                await task


async def _has(stack: Stack, text: str) -> bool:
    return text in await texts(stack)


async def _polled(supervisor: ModemSupervisor) -> bool:
    return supervisor.status.signal_percent is not None


async def _initialised(bank: FakeBank) -> bool:
    settings = bank[0].modem.settings
    return settings.mt == 1 and not settings.echo


async def _empty(bank: FakeBank) -> bool:
    return bank[0].modem.storage_used == 0
