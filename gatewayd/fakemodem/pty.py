"""Serves one FakeModem on a pseudo-terminal, reachable through a stable symlink (DIR/ttyGSM0 → /dev/pts/N).

Theory of operation: both pty ends are put in raw mode (the line discipline would otherwise echo and turn
CR into CR LF); the master is watched with `loop.add_reader`, never a thread. The server keeps its own slave
fd open, so a daemon closing and reopening the port never makes the master read EIO. `unplug` closes both
ends (a client's next read fails, as when a USB modem disappears); `replug` serves the same modem and SIM
on a fresh pty. Output the client does not read is buffered up to a bound, then dropped and counted.
Link timing (LinkTiming) emulates a real modem's pace: a per-answer latency drawn from a range, and the
serial line's bit rate (10 bits per byte, 8N1), with the output order always kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import tty
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from gatewayd.fakemodem.modem import FakeModem

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096
# Past this much unread output a real modem's UART FIFO would have overflowed long ago.
MAX_PENDING_OUTPUT_BYTES = 256 * 1024
BITS_PER_BYTE = 10  # 8N1 framing: start bit, 8 data bits, stop bit


@dataclass(frozen=True)
class LinkTiming:
    """How fast the emulated modem answers: `latency_s` (low, high) per answer, uniformly drawn, and the
    line rate in baud (None: as fast as the pty goes). Seeded so a benchmark run can be repeated."""

    latency_s: tuple[float, float] = (0.0, 0.0)
    baud: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        low, high = self.latency_s
        if not 0 <= low <= high:
            raise ValueError(f"latency range must be 0 <= low <= high, got {self.latency_s}")
        if self.baud is not None and self.baud <= 0:
            raise ValueError(f"baud must be positive, got {self.baud}")

    def transfer_s(self, size: int) -> float:
        """Seconds the line needs for `size` bytes."""
        return 0.0 if self.baud is None else size * BITS_PER_BYTE / self.baud


INSTANT = LinkTiming()


class PtyModem:
    """One modem on one pty. Must be used from the event loop's thread; `plug` needs a running loop."""

    def __init__(
        self,
        modem: FakeModem,
        link_path: Path,
        *,
        reply_delay_s: float = 0.0,
        noise_interval_s: float | None = None,
        timing: LinkTiming = INSTANT,
    ) -> None:
        self.modem = modem
        self.reply_delay_s = reply_delay_s
        self.timing = timing
        self._random = random.Random(timing.seed)  # noqa: S311 - emulated latency, not security
        self._line_free_at = 0.0  # loop time when the last scheduled output has left the line
        self._input_s = 0.0  # line time of command bytes received since the last answer
        # Output waiting for its time, in order; one timer for the head (equal-time timers have no order).
        self._scheduled: deque[tuple[float, bytes]] = deque()
        self._schedule_timer: asyncio.TimerHandle | None = None
        self.noise_interval_s = noise_interval_s
        self.dropped_output_bytes = 0
        self._link_path = link_path
        self._master: int | None = None
        self._slave: int | None = None
        self._device: str | None = None
        self._pending = bytearray()
        self._timers: set[asyncio.TimerHandle] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def path(self) -> Path:
        """The symlink a daemon opens."""
        return self._link_path

    @property
    def device(self) -> str | None:
        """The /dev/pts/N the symlink points to while plugged."""
        return self._device

    @property
    def is_plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        if self._master is not None:
            raise RuntimeError(f"{self._link_path} is already plugged in ({self._device})")
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            device = os.ttyname(slave)
            _replace_symlink(self._link_path, device)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave, self._device = master, slave, device
        self._loop.add_reader(master, self._on_readable)
        self._schedule_noise()
        self.pump()  # anything the modem printed while unplugged (boot lines) goes out now

    def unplug(self) -> None:
        """Pull the USB cable: close both ends and remove the symlink. Idempotent."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        if self._schedule_timer is not None:
            self._schedule_timer.cancel()
            self._schedule_timer = None
        self._scheduled.clear()
        self._line_free_at = self._input_s = 0.0
        if self._master is not None and self._loop is not None:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = self._device = None
        if self._link_path.is_symlink():
            self._link_path.unlink()

    def replug(self, link_path: Path | None = None, *, power_cycle: bool = True) -> None:
        """Re-enumerate: a new pty (and optionally a new name) for the same modem and SIM. A power cycle
        resets volatile settings; its boot lines are not printed since no one has the new port open yet."""
        self.unplug()
        if link_path is not None:
            self._link_path = link_path
        if power_cycle:
            self.modem.reboot(announce=False)
            self.modem.data_to_send()
        self.plug()

    def close(self) -> None:
        self.unplug()

    def pump(self) -> None:
        """Send whatever the modem has to say (after a command, an injected SMS, a fault switched on)."""
        data = self.modem.data_to_send()
        if not data or self._master is None or self._loop is None:
            return
        delay = self._output_delay(len(data))
        if delay <= 0 and not self._scheduled:
            self._write(data)
            return
        self._scheduled.append((self._loop.time() + delay, data))
        if self._schedule_timer is None:
            self._schedule_timer = self._loop.call_at(self._scheduled[0][0], self._write_due)

    def _write_due(self) -> None:
        assert self._loop is not None
        self._schedule_timer = None
        now = self._loop.time()
        while self._scheduled and self._scheduled[0][0] <= now:
            self._write(self._scheduled.popleft()[1])
        if self._scheduled:
            self._schedule_timer = self._loop.call_at(self._scheduled[0][0], self._write_due)

    def _output_delay(self, size: int) -> float:
        """Seconds until `size` bytes have fully arrived: the command's own line time, a latency, then the
        answer's transfer time; never before earlier output has left (a UART sends in order)."""
        assert self._loop is not None
        low, high = self.timing.latency_s
        latency = self.reply_delay_s + self._input_s + (self._random.uniform(low, high) if high > 0 else 0.0)
        self._input_s = 0.0
        now = self._loop.time()
        start = max(now + latency, self._line_free_at)
        self._line_free_at = start + self.timing.transfer_s(size)
        return self._line_free_at - now

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError as error:
            # EIO only if no slave fd is open, which our own slave fd prevents; log with evidence and go on.
            logger.warning("pty %s (%s): read failed: %s", self._link_path, self._device, error)
            return
        self._input_s += self.timing.transfer_s(len(data))
        self.modem.receive_data(data)
        self.pump()

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        if self._pending:
            self._buffer(data)
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            written = len(data)  # the far end is gone; output of a modem no one hears is lost
        if written < len(data):
            self._buffer(data[written:])
            assert self._loop is not None
            self._loop.add_writer(self._master, self._flush_pending)

    def _buffer(self, data: bytes) -> None:
        room = MAX_PENDING_OUTPUT_BYTES - len(self._pending)
        self._pending += data[:room]
        self.dropped_output_bytes += max(0, len(data) - room)

    def _flush_pending(self) -> None:
        assert self._master is not None and self._loop is not None
        with contextlib.suppress(BlockingIOError):
            written = os.write(self._master, self._pending)
            del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self._master)

    def _schedule_noise(self) -> None:
        if self.noise_interval_s is None or self._loop is None:
            return
        self._timers.add(self._loop.call_later(self.noise_interval_s, self._emit_noise))

    def _emit_noise(self) -> None:
        if self.modem.emit_noise():
            self.pump()
            self._schedule_noise()


def _replace_symlink(link: Path, target: str) -> None:
    """Point `link` at `target` atomically; refuse to clobber anything that is not a symlink."""
    if os.path.lexists(link) and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; refusing to replace it")
    link.parent.mkdir(parents=True, exist_ok=True)
    staging = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    staging.symlink_to(target)
    os.replace(staging, link)
