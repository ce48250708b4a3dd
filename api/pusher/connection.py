"""One Pusher client connection: a direct write when it keeps up, else a bounded queue and one writer task.

Theory of operation: the hub calls `deliver(frame)`, which never awaits. A connection that keeps up (nothing
queued, the writer idle, the transport's buffer empty) gets the frame's prepared wire bytes written straight
to its transport: no task wakes, so fan-out to 1,000 sockets costs 1,000 `write` calls and nothing else.
A connection that is behind gets the frame appended to its queue, which its writer task sends in order, with
aiohttp's flow control. When a client reads too slowly and the queue passes its frame or byte bound, the
connection is cut: the queue is dropped, the client gets `pusher:error` 4100 "Over capacity" (Pusher's code
for "back off, then reconnect") and a close; if even that cannot be written within `cut_grace_s`, the
transport is aborted. Memory per connection is therefore bounded, and nobody else waits.
It does not read from the socket: the route's receive loop does, and owns activity pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from aiohttp import web

from api.pusher import protocol
from api.pusher.wire import OutboundFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendLimits:
    max_queued_frames: int = 1_000
    max_queued_bytes: int = 4 * 1024 * 1024
    cut_grace_s: float = 2.0  # how long a cut client gets to take its error frame and close


class PusherConnection:
    """Implements the hub's `Subscriber`; `run_writer` is its only task."""

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, socket_id: str,
        limits: SendLimits,
    ) -> None:
        self._ws = ws
        self._transport = transport
        self._socket_id = socket_id
        self._limits = limits
        self._queue: deque[OutboundFrame] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._closing: tuple[int, str | None] | None = None  # (pusher error code or 0, message)
        self._writer_sending = False  # a popped frame may still be on its way through aiohttp's writer
        self.cut_for_overflow = False
        self.frames_sent = 0
        self.frames_written_directly = 0

    @property
    def socket_id(self) -> str:
        return self._socket_id

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def deliver(self, frame: OutboundFrame) -> None:
        """Write or queue a frame; never blocks. A client over its bounds is cut instead of queued further."""
        if self._closing is not None:
            return
        transport = self._transport
        if transport is not None and self._keeps_up(transport):
            # The frame is complete and the transport takes it whole, so it cannot interleave with a frame
            # aiohttp writes itself (autoping's pong); order is kept because nothing of ours is pending.
            transport.write(frame.wire)
            self.frames_sent += 1
            self.frames_written_directly += 1
            return
        if (
            len(self._queue) >= self._limits.max_queued_frames
            or self._queued_bytes + frame.size > self._limits.max_queued_bytes
        ):
            log.warning("pusher: cutting slow consumer %s (%d frames, %d bytes queued)",
                        self._socket_id, len(self._queue), self._queued_bytes)
            self.cut_for_overflow = True
            self.close_with_error(protocol.ErrorCode.OVER_CAPACITY)
            return
        self._queue.append(frame)
        self._queued_bytes += frame.size
        self._wakeup.set()

    def _keeps_up(self, transport: asyncio.Transport) -> bool:
        """Nothing of ours pending and the kernel took everything so far: a direct write keeps order."""
        return (
            not self._queue
            and not self._writer_sending
            and not self._ws.closed
            and not transport.is_closing()
            and transport.get_write_buffer_size() == 0
        )

    def close_with_error(self, code: protocol.ErrorCode, message: str | None = None) -> None:
        """Drop what is queued, send `pusher:error` and close with the same code (writer does it)."""
        if self._closing is not None:
            return
        self._queue.clear()
        self._queued_bytes = 0
        self._closing = (int(code), message)
        self._wakeup.set()
        # If the writer is stuck in a send to a client that reads nothing, abort the transport after a grace
        # period: that makes the stuck drain raise, and the writer finishes.
        asyncio.get_running_loop().call_later(self._limits.cut_grace_s, self._abort_if_open)

    def close_quietly(self) -> None:
        """The client is gone or the server stops: the writer ends without an error frame."""
        if self._closing is None:
            self._queue.clear()
            self._queued_bytes = 0
            self._closing = (0, None)
        self._wakeup.set()

    async def run_writer(self) -> None:
        ws = self._ws
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue and self._closing is None:
                    frame = self._queue.popleft()
                    self._queued_bytes -= frame.size
                    self._writer_sending = True
                    try:
                        await ws.send_str(frame.text)  # aiohttp waits for the transport to drain
                    finally:
                        self._writer_sending = False
                    self.frames_sent += 1
                if self._closing is not None:
                    break
            code, message = self._closing
            if code and not ws.closed:
                await ws.send_str(protocol.error_frame(protocol.ErrorCode(code), message))
                await ws.close(code=code, message=(message or protocol.DEFAULT_MESSAGES[
                    protocol.ErrorCode(code)]).encode()[:120])
        except (ConnectionError, RuntimeError) as exc:  # the peer vanished mid-send; aiohttp raises these
            log.debug("pusher: writer of %s stopped: %r", self._socket_id, exc)

    def _abort_if_open(self) -> None:
        transport = self._transport
        if not self._ws.closed and transport is not None and not transport.is_closing():
            log.warning("pusher: aborting %s, it did not take its close in time", self._socket_id)
            with contextlib.suppress(OSError):
                transport.abort()
