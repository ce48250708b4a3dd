"""A bank of emulated modems, each on its own pty with a symlink DIR/ttyGSM<i>; the unit tests, benchmarks,
`simrelay serve --simulate N` and `simrelay fakebank` start. Owns its ptys; knows nothing of the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from gatewayd.fakemodem.dialect import SIMCOM_SIM800, ModemDialect
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.fakemodem.pty import INSTANT, LinkTiming, PtyModem

if TYPE_CHECKING:
    from gatewayd.sms.pdu import Encoding


class UnknownModem(LookupError):
    def __init__(self, index: int, count: int) -> None:
        super().__init__(f"no modem {index} in a bank of {count}")
        self.index = index


@dataclass(frozen=True)
class BankModem:
    index: int
    modem: FakeModem
    port: PtyModem

    @property
    def path(self) -> Path:
        return self.port.path


@dataclass(frozen=True)
class InjectedSms:
    parts: int
    indexes: list[int]  # storage indexes of the parts stored now; held or directly routed parts have none


def port_name(index: int) -> str:
    return f"ttyGSM{index}"


class FakeBank:
    """`count` modems, identities `ModemIdentity.for_index(i, seed)`; use as `async with FakeBank(...)`."""

    def __init__(
        self,
        count: int,
        directory: Path,
        *,
        seed: int = 0,
        storage_size: int = 30,
        echo: bool = True,
        clock: Callable[[], datetime] | None = None,
        dialect: ModemDialect = SIMCOM_SIM800,
        timing: LinkTiming = INSTANT,
    ) -> None:
        if count < 0:
            raise ValueError(f"modem count must not be negative, got {count}")
        self.directory = Path(directory)
        self.modems: list[BankModem] = []
        for index in range(count):
            modem = FakeModem(
                ModemIdentity.for_index(index, seed),
                storage_size=storage_size,
                echo=echo,
                clock=clock,
                dialect=dialect,
            )
            # Each modem its own latency sequence, still repeatable from the bank's timing seed.
            port_timing = replace(timing, seed=timing.seed * 100_003 + index)
            port = PtyModem(modem, self.directory / port_name(index), timing=port_timing)
            self.modems.append(BankModem(index, modem, port))

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for entry in self.modems:
                entry.port.plug()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Unplug every modem and remove its symlink; safe to call twice."""
        for entry in self.modems:
            entry.port.unplug()

    async def __aenter__(self) -> FakeBank:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __getitem__(self, index: int) -> BankModem:
        if not 0 <= index < len(self.modems):
            raise UnknownModem(index, len(self.modems))
        return self.modems[index]

    def inject(
        self,
        index: int,
        sender: str,
        payload: str | bytes,
        *,
        encoding: Encoding | None = None,
        reference: int | None = None,
    ) -> InjectedSms:
        """An SMS from the network to modem `index`; its URCs go out on the pty at once."""
        from gatewayd.fakemodem.network import encode_incoming

        entry = self[index]
        pdus = encode_incoming(entry.modem, sender, payload, encoding=encoding, reference=reference)
        indexes = entry.modem.deliver_pdus(pdus)
        entry.port.pump()
        return InjectedSms(parts=len(pdus), indexes=indexes)
