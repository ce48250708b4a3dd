"""Benchmark clients: raw Pusher-protocol WebSockets on a bare asyncio.Protocol, run in worker processes.

Frames are parsed in `data_received` and timed there, so a tick costs the client one callback and no task
wake-up: with 1,000 sockets on a 2-core host shared with the server, the harness must not be what is measured.
A worker process connects its share, reports ready, and reports every receipt time when told to stop. With
`offer_deflate` the sockets offer permessage-deflate (RFC 7692) as browsers and Node's `ws` do.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Final

from api.pusher import protocol

TICK_EVENT: Final = b'"bench.tick"'
# RFC 7692 §7.2.2: the sender strips this empty stored block from each message; the receiver appends it.
_DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"
_RSV1: Final = 0x40
# The tick's `data` is a JSON string inside the frame's JSON, hence the escaped quote before the colon.
_TICK_SEQ: Final = re.compile(rb'seq\\": ?(\d+)')


def masked_text_frame(text: str) -> bytes:
    """A client→server text frame; RFC 6455 §5.3 requires clients to mask."""
    payload = text.encode()
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
    return header + mask + masked


class BenchSocket(asyncio.Protocol):
    """One client socket: setup frames go to a queue, ticks are timed in place."""

    def __init__(self, on_tick: Callable[[bytes, float], None]) -> None:
        self._on_tick = on_tick
        self._buffer = bytearray()
        self._upgraded = False
        self._inflater: zlib._Decompress | None = None  # set when the server accepted permessage-deflate
        self.transport: asyncio.Transport | None = None
        self.setup_frames: asyncio.Queue[str] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        received_at = time.perf_counter()
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = bytes(self._buffer[: self._buffer.find(b"\r\n")])
            if b" 101 " not in status_line:
                raise ConnectionError(f"upgrade refused: {status_line!r}")
            if b"permessage-deflate" in self._buffer[:end].lower():
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            del self._buffer[: end + 4]
            self._upgraded = True
        self._parse_frames(received_at)

    def _parse_frames(self, received_at: float) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            compressed, opcode = buffer[0] & _RSV1, buffer[0] & 0x0F
            length, offset = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if compressed and self._inflater is not None:
                payload = self._inflater.decompress(payload + _DEFLATE_TAIL)
            if opcode == 0x1 and TICK_EVENT in payload:
                self._on_tick(payload, received_at)
            elif opcode == 0x1:
                self.setup_frames.put_nowait(payload.decode())

    async def next_frame(self) -> dict[str, object]:
        async with asyncio.timeout(30):
            decoded: dict[str, object] = json.loads(await self.setup_frames.get())
        return decoded

    def send_text(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(masked_text_frame(text))


@dataclass(frozen=True)
class WorkerSetup:
    port: int
    count: int
    app_key: str
    app_secret: str
    channel: str
    offer_deflate: bool
    cpus: frozenset[int] | None  # CPU affinity, or None to let the scheduler choose
    nice: int  # added niceness: > 0 keeps a woken client from preempting the server mid fan-out


async def subscribed_socket(setup: WorkerSetup, on_tick: Callable[[bytes, float], None]) -> BenchSocket:
    loop = asyncio.get_running_loop()
    port, app_key, channel = setup.port, setup.app_key, setup.channel
    _, client = await loop.create_connection(lambda: BenchSocket(on_tick), "127.0.0.1", port)
    extensions = ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                  if setup.offer_deflate else "")
    key = base64.b64encode(os.urandom(16)).decode()
    assert client.transport is not None
    client.transport.write(
        f"GET /app/{app_key}?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extensions}\r\n".encode())
    established = await client.next_frame()
    socket_id = json.loads(str(established["data"]))["socket_id"]
    auth = protocol.channel_auth(app_key, setup.app_secret, socket_id, channel)
    client.send_text(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}}))
    reply = await client.next_frame()
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply
    return client


@dataclass(frozen=True)
class WorkerReport:
    connect_s: float
    seen: list[dict[int, float]]  # per socket: tick seq → perf_counter at receipt
    cpu_s: float  # this worker's CPU time from ready to stop


def run_worker(setup: WorkerSetup, pipe: Connection) -> None:
    """Process entry point: connect `setup.count` sockets, say ready, and report receipts on "stop"."""
    if setup.cpus:
        os.sched_setaffinity(0, setup.cpus)
    if setup.nice:
        os.nice(setup.nice)
    asyncio.run(_worker(setup, pipe))


async def _worker(setup: WorkerSetup, pipe: Connection) -> None:
    seen: list[dict[int, float]] = [{} for _ in range(setup.count)]
    gate = asyncio.Semaphore(100)  # bounded connect concurrency, as a fleet reconnecting would be

    async def one(n: int) -> BenchSocket:
        def on_tick(payload: bytes, received_at: float) -> None:
            match = _TICK_SEQ.search(payload)  # cheaper than decoding JSON twice: keeps the harness light
            assert match is not None, payload
            seen[n][int(match.group(1))] = received_at

        async with gate:
            return await subscribed_socket(setup, on_tick)

    started = time.perf_counter()
    sockets = await asyncio.gather(*(one(n) for n in range(setup.count)))
    connect_s = time.perf_counter() - started
    pipe.send(("ready", connect_s))
    cpu_before = time.process_time()
    await asyncio.to_thread(pipe.recv)  # "stop"
    cpu_s = time.process_time() - cpu_before
    for client in sockets:
        if client.transport is not None:
            client.transport.close()
    pipe.send(WorkerReport(connect_s, seen, cpu_s))
