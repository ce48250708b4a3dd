"""Prepared frames: byte-identical to what aiohttp's own writer sends, written straight to sockets that keep
up, queued for those that are behind, in order across the switch, and never compressed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.http_websocket import WSMsgType
from hypothesis import given
from hypothesis import strategies as st

from api.pusher.connection import PusherConnection, SendLimits
from api.pusher.hub import LocalHub
from api.pusher.wire import OutboundFrame, text_frame
from tests.api.pusher.conftest import FeedFactory

# Around the three length encodings of RFC 6455 §5.2 (7-bit, 16-bit, 64-bit).
BOUNDARY_LENGTHS = st.sampled_from([0, 1, 124, 125, 126, 127, 65_534, 65_535, 65_536, 70_000])


class RecordingTransport:
    """Just enough of asyncio.Transport for aiohttp's WebSocketWriter: it keeps what is written."""

    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


class IdleProtocol:
    _paused = False


def aiohttp_server_frame(payload: bytes) -> bytes:
    transport = RecordingTransport()
    writer = WebSocketWriter(IdleProtocol(), transport, use_mask=False, compress=0)  # type: ignore[arg-type]
    asyncio.run(writer.send_frame(payload, WSMsgType.TEXT))
    return bytes(transport.written)


@given(st.one_of(st.binary(max_size=300), BOUNDARY_LENGTHS.map(lambda n: b"x" * n)))
def test_prepared_frame_is_what_aiohttp_would_send(payload: bytes) -> None:
    assert text_frame(payload) == aiohttp_server_frame(payload)


@given(st.text(max_size=200))
def test_outbound_frame_carries_the_utf8_text(text: str) -> None:
    frame = OutboundFrame.of(text)
    assert frame.wire.endswith(text.encode())
    assert frame.size == len(frame.wire)


async def test_permessage_deflate_is_declined_even_when_offered(feed_factory: FeedFactory) -> None:
    feed = await feed_factory()
    client = await feed.connect(compress=15)
    assert client.ws.compress == 0  # the handshake answered without the extension
    await client.ws.close()


async def test_a_client_that_keeps_up_gets_every_event_written_directly(feed_factory: FeedFactory) -> None:
    feed = await feed_factory()
    client = await feed.connect()
    await client.send("pusher:subscribe", {"channel": "news"})
    await client.until("pusher_internal:subscription_succeeded")
    connection = feed.server.connections[client.socket_id]
    direct_before = connection.frames_written_directly
    for n in range(20):
        assert feed.server.hub.publish(["news"], "tick", json.dumps({"n": n})) == 1
        assert json.loads((await client.frame())["data"]) == {"n": n}
    assert connection.frames_written_directly - direct_before == 20
    assert connection.queued_frames == 0


async def read_ticks(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[int]:
    seen: list[int] = []
    async with asyncio.timeout(60):
        while len(seen) < count:
            message = await ws.receive()
            assert message.type is WSMsgType.TEXT, message
            frame: dict[str, Any] = json.loads(message.data)
            if frame["event"] == "tick":
                seen.append(json.loads(frame["data"])["n"])
    return seen


async def test_a_burst_past_the_socket_buffers_queues_and_arrives_in_order(feed_factory: FeedFactory) -> None:
    # Bounds far above the burst: this is about order across direct → queued → direct, not about cutting.
    feed = await feed_factory(send_limits=SendLimits(max_queued_frames=100_000, max_queued_bytes=256 << 20))
    client = await feed.connect()
    await client.send("pusher:subscribe", {"channel": "news"})
    await client.until("pusher_internal:subscription_succeeded")
    connection = feed.server.connections[client.socket_id]
    pad, burst = "x" * 16_000, 1_500  # 24 MB in one loop iteration: more than loopback's socket buffers
    direct_before = connection.frames_written_directly
    for n in range(burst):
        feed.server.hub.publish(["news"], "tick", json.dumps({"n": n, "pad": pad}))
    written_directly = connection.frames_written_directly - direct_before
    assert 0 < written_directly < burst, "the burst should fill the socket buffers and spill into the queue"
    assert connection.queued_frames == burst - written_directly
    assert await read_ticks(client.ws, burst) == list(range(burst))
    # Drained: the next event goes straight to the socket again.
    async with asyncio.timeout(10):
        while connection.queued_frames:  # noqa: ASYNC110 - the writer task empties it; no event to await
            await asyncio.sleep(0.01)
    direct_before = connection.frames_written_directly
    feed.server.hub.publish(["news"], "tick", json.dumps({"n": burst}))
    assert await read_ticks(client.ws, 1) == [burst]
    assert connection.frames_written_directly == direct_before + 1


class ScriptedTransport:
    """A transport whose kernel-side backlog the test sets; it records every byte in arrival order."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.backlog = 0

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.backlog


class ScriptedSocket:
    """The two things a PusherConnection asks of aiohttp's WebSocketResponse; sends land on the transport."""

    def __init__(self, transport: ScriptedTransport) -> None:
        self.transport = transport
        self.closed = False

    async def send_str(self, text: str) -> None:
        self.transport.write(text_frame(text.encode()))


async def test_a_frame_never_overtakes_one_still_queued() -> None:
    transport = ScriptedTransport()
    connection = PusherConnection(ScriptedSocket(transport), transport, "1.1", SendLimits())  # type: ignore[arg-type]
    writer = asyncio.create_task(connection.run_writer())
    transport.backlog = 1  # the kernel is full: "a" must be queued
    connection.deliver(OutboundFrame.of("a"))
    transport.backlog = 0  # drained before the writer ran: "b" must still queue behind "a"
    connection.deliver(OutboundFrame.of("b"))
    assert (connection.queued_frames, connection.frames_written_directly) == (2, 0)
    async with asyncio.timeout(5):
        while connection.queued_frames:  # noqa: ASYNC110 - the writer task empties it; no event to await
            await asyncio.sleep(0)
    connection.deliver(OutboundFrame.of("c"))  # nothing pending any more: straight to the transport
    assert connection.frames_written_directly == 1
    assert bytes(transport.written) == text_frame(b"a") + text_frame(b"b") + text_frame(b"c")
    connection.close_quietly()
    async with asyncio.timeout(5):
        await writer


class Recorder:
    def __init__(self, socket_id: str) -> None:
        self.socket_id = socket_id
        self.frames: list[OutboundFrame] = []

    def deliver(self, frame: OutboundFrame) -> None:
        self.frames.append(frame)


def test_an_event_is_serialised_once_for_all_its_subscribers() -> None:
    hub = LocalHub()
    subscribers = [Recorder(f"{n}.1") for n in range(50)]
    for subscriber in subscribers:
        hub.join("news", subscriber, None)
    assert hub.publish(["news"], "tick", "{}") == 50
    shared = subscribers[0].frames[-1]
    assert all(subscriber.frames[-1] is shared for subscriber in subscribers)  # one object, not 50 copies
    assert json.loads(shared.text) == {"event": "tick", "channel": "news", "data": "{}"}
