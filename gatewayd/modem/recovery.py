"""The recovery ladder of one modem (field-lessons.md #2): each failed session climbs one rung.

reinit (a fresh session, which re-runs the init commands) → reset (the profile's reset command, e.g.
`AT+CFUN=1,1`) → reopen (close, wait, reopen the port) → usb_reset (de- and re-authorise the USB device,
only where the port is a real USB tty) → quarantine (stop trying for a while, with the reason shown).
A session that stayed healthy long enough puts the modem back at the bottom. Pure bookkeeping + sysfs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

STEPS = ("reinit", "reset", "reopen", "usb_reset", "quarantine")


class RecoveryLadder:
    def __init__(self, *, usb_reset_possible: bool) -> None:
        self._usb_reset_possible = usb_reset_possible
        self._rung = 0

    @property
    def rung(self) -> int:
        return self._rung

    def climb(self) -> str:
        """The step to take after one more failed session."""
        while True:
            step = STEPS[min(self._rung, len(STEPS) - 1)]
            self._rung += 1
            if step != "usb_reset" or self._usb_reset_possible:
                return step

    def healthy(self) -> None:
        self._rung = 0


def usb_authorized_file(port: str) -> Path | None:
    """`/sys/.../<usb device>/authorized` of the USB device behind a tty, or None (a pty, a UART)."""
    try:
        tty_name = Path(os.path.realpath(port)).name
        device = Path(os.path.realpath(f"/sys/class/tty/{tty_name}/device"))
    except OSError:
        return None
    for candidate in (device, *device.parents):
        if (candidate / "idVendor").exists() and (candidate / "authorized").exists():
            return candidate / "authorized"
    return None


def reset_usb_device(port: str) -> bool:
    """Re-enumerate the modem's USB device (authorized 0 → 1, as `usbreset` does); False if impossible."""
    authorized = usb_authorized_file(port)
    if authorized is None:
        return False
    try:
        authorized.write_text("0")
        authorized.write_text("1")
    except OSError as exc:
        log.warning("%s: USB reset through %s failed: %s", port, authorized, exc)
        return False
    return True
