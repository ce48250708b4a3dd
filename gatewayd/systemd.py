"""sd_notify for Type=notify units: READY, STATUS, WATCHDOG (fed only while healthy) and STOPPING.

The protocol is one datagram of `KEY=value` lines to the AF_UNIX socket named by $NOTIFY_SOCKET
(sd_notify(3); "@" means the abstract namespace). That is a few lines of stdlib socket code, so we write
them rather than depend on libsystemd bindings that need a compiler on the rack host. Outside systemd
(no NOTIFY_SOCKET) every call is a no-op. Sending never raises: a notification is advice to the manager.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# sd_watchdog_enabled(3) recommends pinging at half the interval systemd waits for.
WATCHDOG_SAFETY_FACTOR = 0.5


class SystemdNotifier:
    """One unit's notification channel. `socket_path` None disables it (not started by systemd)."""

    def __init__(self, socket_path: str | None, *, watchdog_usec: int | None = None) -> None:
        self._address = _socket_address(socket_path) if socket_path else None
        self._socket: socket.socket | None = None
        self.watchdog_usec = watchdog_usec

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        """Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled(3) does."""
        env = os.environ if environ is None else environ
        usec: int | None = None
        raw_usec = env.get("WATCHDOG_USEC", "")
        watchdog_pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the manager watches; a child that inherited it must not feed it.
        if raw_usec.isdigit() and int(raw_usec) > 0 and watchdog_pid in ("", str(os.getpid())):
            usec = int(raw_usec)
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1, or None when the unit has no WatchdogSec."""
        if self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 1_000_000 * WATCHDOG_SAFETY_FACTOR

    def notify(self, **fields: str) -> bool:
        """Send one datagram `KEY=value\\n...`; True when it was sent. Values must not contain newlines."""
        if self._address is None:
            return False
        lines = []
        for key, value in fields.items():
            if "\n" in value:
                raise ValueError(f"sd_notify value for {key} contains a newline: {value!r}")
            lines.append(f"{key}={value}")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:
            log.warning("sd_notify %s to %r failed: %s", sorted(fields), self._address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify(READY="1", STATUS=status) if status else self.notify(READY="1")

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify(STOPPING="1", STATUS=status)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG="1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def feed_watchdog(self, healthy: Callable[[], bool], *, interval_s: float | None = None) -> None:
        """Send WATCHDOG=1 every interval from the event loop while `healthy()`; run as an owned task.

        A blocked loop sends nothing, and so does an unhealthy process: systemd then restarts it, which is
        the point of WatchdogSec. Returns at once when the unit has no watchdog.
        """
        interval = interval_s if interval_s is not None else self.watchdog_interval_s
        if interval is None or not self.enabled:
            return
        unhealthy_logged = False
        while True:
            if healthy():
                self.watchdog()
                unhealthy_logged = False
            elif not unhealthy_logged:
                log.error("watchdog: not healthy; withholding WATCHDOG=1 so systemd restarts the service")
                unhealthy_logged = True
            await asyncio.sleep(interval)  # the cadence itself, not waiting for something


def _socket_address(path: str) -> str | bytes:
    if path.startswith("@"):  # abstract namespace (sd_notify(3))
        return b"\0" + path[1:].encode()
    return path

