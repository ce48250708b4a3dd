"""Opens a serial port on the event loop and connects it to a `ModemDriver`.

Only I/O lives here: the bytes go to the driver untouched. The port is opened exclusively (flock), so a
port that another process holds (ModemManager, a second daemon) is reported as busy instead of being
shared and corrupted.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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


class _EpollReadSerial(serial.Serial):  # type: ignore[misc]
    """pyserial's read() calls select.select(), which raises ValueError for descriptors >= 1024
    (FD_SETSIZE): with ~250 modems the daemon's ports are past it and were never read (bench ingest,
    issue 3). The event loop (epoll) has already said the fd is readable, so a non-blocking read goes
    straight to os.read."""

    def read(self, size: int = 1) -> bytes:
        if self.timeout != 0:
            return bytes(super().read(size))
        try:
            data = os.read(self.fd, size)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise serial.SerialException(f"read failed: {exc}") from exc
        if not data:  # pyserial's wording: a vanished device reads as ready with nothing to read
            raise serial.SerialException("device reports readiness to read but returned no data")
        return data


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
        opened = await loop.run_in_executor(None, partial(_EpollReadSerial, path, baudrate=baudrate,
                                                                     exclusive=True))  # fmt: skip
        transport, _ = await serial_asyncio_fast.connection_for_serial(
            loop, lambda: _DriverProtocol(driver, made, closed), opened
        )
    except (serial.SerialException, OSError) as exc:
        raise PortUnavailable(path, _classify(exc), str(exc)) from exc
    await made  # connection_made runs on the next loop turn; no command may be written before it
    return OpenPort(path=path, transport=transport, closed=closed)
