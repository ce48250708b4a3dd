"""A port whose descriptor is past FD_SETSIZE (1024) is still read: pyserial's select()-based read raised
ValueError there, and every modem past ~250 in one daemon went deaf (bench ingest, issue 3)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.fakemodem.pty import PtyModem
from gatewayd.transport.serial import open_serial


class Collector:
    def __init__(self) -> None:
        self.data = bytearray()
        self.answered = asyncio.Event()
        self.write: Callable[[bytes], None] | None = None

    def attach(self, write: Callable[[bytes], None]) -> None:
        self.write = write

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.data.endswith(b"OK\r\n"):
            self.answered.set()

    def connection_lost(self, exc: BaseException | None) -> None:
        return None


async def test_a_port_above_fd_setsize_is_read(tmp_path: Path) -> None:
    served = PtyModem(FakeModem(ModemIdentity.for_index(0), echo=False), tmp_path / "ttyGSM0")
    served.plug()
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # push the next fd past 1024
    try:
        collector = Collector()
        port = await open_serial(str(served.path), collector)
        try:
            assert port.transport.get_extra_info("serial").fileno() >= 1024
            assert collector.write is not None
            collector.write(b"AT+CGSN\r")
            async with asyncio.timeout(5):
                await collector.answered.wait()
            assert bytes(collector.data) == f"\r\n{served.modem.identity.imei}\r\n\r\nOK\r\n".encode()
        finally:
            port.close()
    finally:
        for fd in fillers:
            os.close(fd)
        served.close()
