"""SIM PIN handling that never pushes a SIM into PUK (field-lessons.md #12).

Reads `AT+CPIN?`; enters the configured PIN only when the profile's counter command says at least 2
attempts remain, never when the count is unknown, and never again once the PIN was rejected. No retries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gatewayd.at import commands as at
from gatewayd.at.session import AtCommand
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.driver import CommandRejected, ModemDriver

MIN_ATTEMPTS_TO_TRY = 2
# TS 27.007 §9.2.1: +CME ERROR 10 "SIM not inserted", 16 "incorrect password".
CME_SIM_NOT_INSERTED = 10
READY_CHECKS = 10
READY_CHECK_PAUSE_S = 0.5  # pacing between AT+CPIN? after entering the PIN (SIMs take 1-3 s)


@dataclass(frozen=True)
class PinOutcome:
    state: str  # ready, no_sim, pin_required, pin_rejected, puk_required, locked, unknown
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.state in ("ready", "unknown")


async def read_pin_state(driver: ModemDriver, timeout_s: float) -> at.SimPinState | PinOutcome:
    try:
        return at.parse_cpin(await driver.run("AT+CPIN?", timeout_s))
    except CommandRejected as exc:
        if exc.cme == CME_SIM_NOT_INSERTED:
            return PinOutcome("no_sim", "SIM not inserted (+CME ERROR 10)")
        return PinOutcome("unknown", f"AT+CPIN? rejected: {exc.failure.final}")
    except at.AtParseError as exc:
        return PinOutcome("unknown", f"AT+CPIN? unreadable: {exc}")


async def attempts_left(driver: ModemDriver, profile: ModemProfile) -> int | None:
    """PIN1 attempts left by the profile's counter command; None when unknown (then we never try)."""
    query = profile.pin_attempts
    if query is None:
        return None
    try:
        lines = await driver.run(query.command, profile.timeouts.default_s)
    except CommandRejected:
        return None
    for line in lines:
        if (count := query.read(line)) is not None:
            return count
    return None


async def unlock_sim(
    driver: ModemDriver, profile: ModemProfile, pin: str | None, *, rejected_before: bool
) -> PinOutcome:
    timeout = profile.timeouts.default_s
    state = await read_pin_state(driver, timeout)
    if isinstance(state, PinOutcome):
        return state
    if state.ready:
        return PinOutcome("ready")
    if state.needs_puk:
        return PinOutcome("puk_required", f"SIM asks for {state.code}; the gateway never enters a PUK")
    if state.code != "SIM PIN":
        return PinOutcome("locked", f"SIM asks for {state.code}")
    if pin is None:
        return PinOutcome("pin_required", "SIM PIN needed and none is configured (gateway.sim_pin)")
    if rejected_before:
        return PinOutcome("pin_rejected", "the configured PIN was rejected before; not trying again")
    left = await attempts_left(driver, profile)
    if left is None or left < MIN_ATTEMPTS_TO_TRY:
        return PinOutcome(
            "pin_required", f"{'unknown' if left is None else left} PIN attempts left; not trying (PUK guard)"
        )
    try:
        await driver.execute(AtCommand(f'AT+CPIN="{pin}"', timeout_s=profile.timeouts.init_s))
    except CommandRejected as exc:
        return PinOutcome("pin_rejected", f"PIN rejected: {exc.failure.final}; {left - 1} attempts left")
    for _ in range(READY_CHECKS):
        state = await read_pin_state(driver, timeout)
        if isinstance(state, at.SimPinState) and state.ready:
            return PinOutcome("ready", "PIN entered")
        await asyncio.sleep(READY_CHECK_PAUSE_S)
    return PinOutcome("unknown", "PIN accepted but the SIM did not report READY")
