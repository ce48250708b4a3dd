"""The emulated SIM's PIN lock: `AT+CPIN?` states, PIN1 attempts, PUK after three wrong PINs (TS 27.007 §8.3,
TS 31.102 §9), and the vendor attempt-counter commands the hardware profiles name. Tests read what was tried.

State and counters only; the command handlers are in commands.py. Never enforces anything but PIN1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gatewayd.fakemodem.errors import CmeError

PIN_TRIES = 3  # TS 31.102 §9: PIN1 blocks after 3 consecutive wrong presentations
PUK_TRIES = 10
# TS 27.007 §9.2.1 +CME ERROR codes.
CME_OPERATION_NOT_ALLOWED = 3
CME_SIM_PIN_REQUIRED = 11
CME_SIM_PUK_REQUIRED = 12
CME_INCORRECT_PASSWORD = 16


@dataclass
class SimLock:
    """`pin` None: the SIM has PIN checking off (always READY)."""

    pin: str | None = None
    puk: str = "12345678"
    pin_left: int = PIN_TRIES
    puk_left: int = PUK_TRIES
    verified: bool = False
    pins_tried: list[str] = field(default_factory=list)  # every AT+CPIN="..." the modem was sent
    puk_entries: int = 0  # AT+CPIN="<puk>","<new pin>" attempts (a gateway must never make one)

    @property
    def code(self) -> str:
        """What AT+CPIN? answers after `+CPIN: `."""
        if self.pin is None or self.verified:
            return "READY"
        return "SIM PUK" if self.pin_left == 0 else "SIM PIN"

    @property
    def ready(self) -> bool:
        return self.code == "READY"

    def require_ready(self) -> None:
        """Raise what a modem answers to a SIM command while the SIM is locked."""
        if self.code == "SIM PIN":
            raise CmeError(CME_SIM_PIN_REQUIRED)
        if self.code == "SIM PUK":
            raise CmeError(CME_SIM_PUK_REQUIRED)

    def enter(self, values: list[str]) -> None:
        """AT+CPIN=<pin> or AT+CPIN=<puk>,<newpin>."""
        if len(values) >= 2:
            self.puk_entries += 1
            if self.code != "SIM PUK" or values[0] != self.puk:
                self.puk_left = max(self.puk_left - 1, 0)
                raise CmeError(CME_INCORRECT_PASSWORD)
            self.pin, self.pin_left, self.verified = values[1], PIN_TRIES, True
            return
        if self.ready:
            raise CmeError(CME_OPERATION_NOT_ALLOWED)
        self.pins_tried.append(values[0] if values else "")
        if self.code == "SIM PUK":
            raise CmeError(CME_SIM_PUK_REQUIRED)
        if values and values[0] == self.pin:
            self.verified, self.pin_left = True, PIN_TRIES
            return
        self.pin_left -= 1
        raise CmeError(CME_INCORRECT_PASSWORD)

    def power_cycle(self) -> None:
        """A reboot powers the SIM down: the PIN must be presented again; counters persist on the card."""
        self.verified = False
