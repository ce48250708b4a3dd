"""Opens a serial port on the event loop and connects it to a `ModemDriver`.

Only I/O lives here: the bytes go to the driver untouched. The port is opened exclusively (flock), so a
port that another process holds (ModemManager, a second daemon) is reported as busy instead of being
shared and corrupted.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import serial
import serial_asyncio_fast

from gatewayd.errors import SimRelayError


class LinkSink(Protocol):
    """What receives a port's bytes (the modem driver); the transport knows nothing more of it."""

    def attach(self, write: Callable[[bytes], None]) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def connection_lost(self, exc: BaseException | None) -> None: ...


class PortUnavailable(SimRelayError):
    """The port cannot be opened; `reason` is one of `missing`, `busy`, `denied`, `error`."""

    def __init__(self, path: str, reason: str, detail: str) -> None:
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = path
        self.reason = reason


class _DriverProtocol(asyncio.Protocol):
    def __init__(self, driver: LinkSink, made: asyncio.Future[None], closed: asyncio.Future[None]) -> None:
        self._driver = driver
        self._made = made
        self._closed = closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self._driver.attach(transport.write)
        if not self._made.done():
            self._made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._driver.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._driver.connection_lost(exc)
        if not self._closed.done():
            self._closed.set_result(None)


@dataclass
class OpenPort:
    path: str
    transport: asyncio.BaseTransport
    closed: asyncio.Future[None]  # resolves when the link is gone, for whatever reason

    def close(self) -> None:
        self.transport.close()


def _classify(exc: serial.SerialException | OSError) -> str:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return "missing"
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return "denied"
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "busy" in text.lower():
        return "busy"
    return "error"


async def open_serial(path: str, driver: LinkSink, *, baudrate: int = 115200) -> OpenPort:
    loop = asyncio.get_running_loop()
    made: asyncio.Future[None] = loop.create_future()
    closed: asyncio.Future[None] = loop.create_future()
    try:
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop,
            lambda: _DriverProtocol(driver, made, closed),
            path,
            baudrate=baudrate,
            exclusive=True,
        )
    except (serial.SerialException, OSError) as exc:
        raise PortUnavailable(path, _classify(exc), str(exc)) from exc
    await made  # connection_made runs on the next loop turn; no command may be written before it
    return OpenPort(path=path, transport=transport, closed=closed)
