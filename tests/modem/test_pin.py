"""SIM PIN handling against an emulated PIN-locked SIM over a pty (field-lessons.md #12): the configured PIN
is entered only with at least 2 attempts left, a rejected PIN is never tried again, a PUK is never entered,
and the state reaches the store (modem_health.pin_state)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.dialect import QUECTEL_EC25, SIMCOM_SIM800, ModemDialect
from gatewayd.fakemodem.simlock import SimLock
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.modem.supervisor import ModemSupervisor, SupervisorSettings
from tests.services.conftest import Stack
from tests.system.conftest import poll_until

PROFILES = load_profiles(shipped_hardware_directory() / "modems")
ICCID_PIN_SETTINGS = SupervisorSettings(poll_interval_s=60, sweep_interval_s=60)


@asynccontextmanager
async def supervised(
    stack: Stack, tmp_path: Path, lock: SimLock, settings: SupervisorSettings, *,
    profile: str = "generic", dialect: ModemDialect = SIMCOM_SIM800,
) -> AsyncIterator[tuple[ModemSupervisor, FakeBank]]:  # fmt: skip
    async with FakeBank(1, tmp_path / "bank", dialect=dialect) as bank:
        bank[0].modem.sim_lock = lock
        supervisor = ModemSupervisor(
            str(bank[0].path), PROFILES[profile], stack.services.gateway, stack.clock, settings
        )
        task = asyncio.create_task(supervisor.run())
        try:
            yield supervisor, bank
        finally:
            supervisor.stop()
            async with asyncio.timeout(10):
                await task


async def state_is(supervisor: ModemSupervisor, state: str) -> bool:
    return supervisor.status.state == state


async def stored_pin_state(stack: Stack, supervisor: ModemSupervisor) -> str | None:
    health = await stack.services.gateway.modem_health()
    modem_id = supervisor.status.modem_id
    return health[modem_id].pin_state if modem_id in health else None


@pytest.mark.parametrize(
    ("profile", "dialect"),
    [("generic", SIMCOM_SIM800), ("simcom-sim800", SIMCOM_SIM800), ("quectel-ec25", QUECTEL_EC25)],
)
async def test_the_configured_pin_unlocks_the_sim_once(
    stack: Stack, tmp_path: Path, profile: str, dialect: ModemDialect
) -> None:
    lock = SimLock(pin="1234")
    settings = SupervisorSettings(poll_interval_s=60, sweep_interval_s=60, sim_pin="1234")
    async with supervised(stack, tmp_path, lock, settings, profile=profile, dialect=dialect) as (sup, _):
        async with asyncio.timeout(15):
            await sup.ready.wait()
        assert lock.pins_tried == ["1234"] and lock.ready
        assert await stored_pin_state(stack, sup) == "ready"


async def test_a_pin_for_the_iccid_wins_over_the_default(stack: Stack, tmp_path: Path) -> None:
    lock = SimLock(pin="4321")
    async with FakeBank(1, tmp_path / "probe") as probe:
        iccid = probe[0].modem.identity.iccid  # the bank's first identity; same seed below
    settings = SupervisorSettings(poll_interval_s=60, sim_pin="1111", sim_pins={iccid: "4321"})
    async with supervised(stack, tmp_path, lock, settings) as (supervisor, _):
        async with asyncio.timeout(15):
            await supervisor.ready.wait()
        assert lock.pins_tried == ["4321"]


async def test_a_rejected_pin_is_never_tried_again(stack: Stack, tmp_path: Path) -> None:
    lock = SimLock(pin="1234")
    # Without a usable SIM a session re-checks every poll interval: short here, so it comes back soon.
    settings = SupervisorSettings(poll_interval_s=0.3, sim_pin="0000")
    async with supervised(stack, tmp_path, lock, settings) as (supervisor, bank):
        await poll_until(lambda: state_is(supervisor, "pin_rejected"), timeout_s=15)
        modem = bank[0].modem
        sessions_before = modem.commands_seen["+CPIN"]

        async def another_session() -> bool:  # the supervisor keeps coming back, but only to look
            return modem.commands_seen["+CPIN"] >= sessions_before + 2

        await poll_until(another_session, timeout_s=15)
        assert lock.pins_tried == ["0000"] and lock.pin_left == 2 and lock.puk_entries == 0
        assert await stored_pin_state(stack, supervisor) == "pin_rejected"


async def test_with_one_attempt_left_the_pin_is_not_entered(stack: Stack, tmp_path: Path) -> None:
    lock = SimLock(pin="1234", pin_left=1)
    settings = SupervisorSettings(poll_interval_s=60, sim_pin="1234")
    async with supervised(stack, tmp_path, lock, settings) as (supervisor, _):
        await poll_until(lambda: state_is(supervisor, "pin_required"), timeout_s=15)
        assert "1 PIN attempts left" in supervisor.status.detail
        assert lock.pins_tried == [] and lock.pin_left == 1


async def test_a_sim_in_puk_is_left_alone(stack: Stack, tmp_path: Path) -> None:
    lock = SimLock(pin="1234", pin_left=0)
    settings = SupervisorSettings(poll_interval_s=60, sim_pin="1234")
    async with supervised(stack, tmp_path, lock, settings) as (supervisor, _):
        await poll_until(lambda: state_is(supervisor, "puk_required"), timeout_s=15)
        assert lock.pins_tried == [] and lock.puk_entries == 0
        assert await stored_pin_state(stack, supervisor) == "puk_required"


async def test_without_a_configured_pin_nothing_is_entered(stack: Stack, tmp_path: Path) -> None:
    lock = SimLock(pin="1234")
    async with supervised(stack, tmp_path, lock, ICCID_PIN_SETTINGS) as (supervisor, _):
        await poll_until(lambda: state_is(supervisor, "pin_required"), timeout_s=15)
        assert lock.pins_tried == []
