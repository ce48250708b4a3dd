"""Test links between a ModemDriver and a sans-IO FakeModem, through the event loop, as bytes."""

from __future__ import annotations

import asyncio

from gatewayd.fakemodem.modem import FakeModem
from gatewayd.modem.driver import ModemDriver


class MemoryLink:
    """Bytes cross on later loop turns, in chunks of `chunk` bytes (1 = one byte at a time)."""

    def __init__(self, driver: ModemDriver, modem: FakeModem, *, chunk: int = 0) -> None:
        self.driver = driver
        self.modem = modem
        self._chunk = chunk
        self._loop = asyncio.get_running_loop()
        self.connected = True
        driver.attach(self._to_modem)

    def _to_modem(self, data: bytes) -> None:
        self._loop.call_soon(self._deliver_to_modem, bytes(data))

    def _deliver_to_modem(self, data: bytes) -> None:
        if not self.connected:
            return
        self.modem.receive_data(data)
        self.pump()

    def pump(self) -> None:
        """Carry whatever the modem has to say (answers, URCs) to the driver."""
        out = self.modem.data_to_send()
        if out:
            self._loop.call_soon(self._deliver_to_driver, out)

    def _deliver_to_driver(self, data: bytes) -> None:
        if not self.connected:
            return
        size = self._chunk or len(data)
        for start in range(0, len(data), size):
            self.driver.data_received(data[start : start + size])

    def unplug(self) -> None:
        self.connected = False
        self.driver.connection_lost(OSError(5, "Input/output error"))
