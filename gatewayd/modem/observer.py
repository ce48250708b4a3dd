"""What the modem side reports as it works, for metrics; the modem code calls it, never the reverse.

`gatewayd/metrics.py` implements it with Prometheus collectors; tests may record calls. Every method
must be cheap and must not raise: it runs on the hot path of every AT command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class ModemObserver(Protocol):
    def command_finished(self, port: str, command: str, seconds: float, outcome: str) -> None:
        """`command` is the AT verb without arguments (`AT+CMGR`); outcome ok, error, timeout or lost."""

    def unsolicited(self, port: str, name: str) -> None: ...

    def noise(self, port: str, kind: str) -> None:
        """Unknown lines, garbage bytes, stale responses."""

    def recovery(self, port: str, step: str, reason: str) -> None:
        """A step of the recovery ladder was taken (reinit, reset, reopen, usb_reset, quarantine)."""

    def sms_stored(self, port: str, hosted_sim_id: int, custody_seconds: Sequence[float]) -> None:
        """Messages committed then deleted; custody = seen on the modem → deleted after commit."""

    def sms_sent(self, port: str, hosted_sim_id: int, status: str) -> None: ...


class NullObserver:
    def command_finished(self, port: str, command: str, seconds: float, outcome: str) -> None:
        pass

    def unsolicited(self, port: str, name: str) -> None:
        pass

    def noise(self, port: str, kind: str) -> None:
        pass

    def recovery(self, port: str, step: str, reason: str) -> None:
        pass

    def sms_stored(self, port: str, hosted_sim_id: int, custody_seconds: Sequence[float]) -> None:
        pass

    def sms_sent(self, port: str, hosted_sim_id: int, status: str) -> None:
        pass
