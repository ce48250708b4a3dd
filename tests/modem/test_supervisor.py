"""A supervisor drives a modem on a real pseudo-terminal: identify, receive, survive unplug and replug."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from gatewayd.fakemodem.bank import FakeBank
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.matching import generic_profile
from gatewayd.modem.supervisor import ModemSupervisor, SupervisorSettings
from gatewayd.store.models import Message
from tests.services.conftest import Stack
from tests.system.conftest import poll_until

SETTINGS = SupervisorSettings(poll_interval_s=60, sweep_interval_s=60)


async def test_receives_and_survives_unplug(stack: Stack, tmp_path: Path) -> None:
    profile = generic_profile(load_profiles(shipped_hardware_directory() / "modems"))
    async with FakeBank(1, tmp_path) as bank:
        port = bank[0]
        supervisor = ModemSupervisor(str(port.path), profile, stack.services.gateway, stack.clock, SETTINGS)
        task = asyncio.create_task(supervisor.run())
        try:
            async with asyncio.timeout(10):
                await supervisor.ready.wait()
            first_sim = supervisor.status.hosted_sim_id
            assert supervisor.status.iccid == port.modem.identity.iccid
            assert supervisor.status.imei == port.modem.identity.imei
            bank.inject(0, "+491701112233", "before unplug")

            async def stored() -> list[str]:
                async with stack.sessions() as session:
                    return [t for (t,) in await session.execute(select(Message.text))]

            assert await poll_until(stored, timeout_s=10) == ["before unplug"]

            port.port.unplug()
            await poll_until(lambda: _state_is(supervisor, "unplugged", "missing"), timeout_s=10)
            supervisor.ready.clear()
            port.modem.inject_sms("+491701112233", "while unplugged")  # lands in SIM storage
            port.port.replug()
            async with asyncio.timeout(15):
                await supervisor.ready.wait()
            assert supervisor.status.hosted_sim_id == first_sim
            assert sorted(await poll_until(_two(stored), timeout_s=10)) == [
                "before unplug",
                "while unplugged",
            ]
            assert port.modem.storage_used == 0
        finally:
            supervisor.stop()
            async with asyncio.timeout(10):
                await task


def _two(fetch):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        found = await fetch()
        return found if len(found) >= 2 else None

    return check


async def _state_is(supervisor: ModemSupervisor, *states: str) -> bool:
    return supervisor.status.state in states
