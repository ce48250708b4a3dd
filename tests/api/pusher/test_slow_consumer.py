"""A client that stops reading is cut with 4100 once its bounded queue is full; the others never wait."""

from __future__ import annotations

import asyncio
import json

from api.pusher.connection import SendLimits
from tests.api.pusher.conftest import FeedFactory

PAD = "x" * 4000


async def test_slow_consumer_is_cut_and_the_fast_one_is_not_delayed(feed_factory: FeedFactory) -> None:
    limits = SendLimits(max_queued_frames=64, max_queued_bytes=1024 * 1024, cut_grace_s=0.5)
    feed = await feed_factory(send_limits=limits)
    slow, fast = await feed.connect(), await feed.connect()
    for client in (slow, fast):
        await client.send("pusher:subscribe", {"channel": "news"})
        await client.until("pusher_internal:subscription_succeeded")
    slow_connection = feed.server.connections[slow.socket_id]
    loop = asyncio.get_running_loop()
    worst_latency_s, published = 0.0, 0
    # From here on the slow client reads nothing: aiohttp stops reading its socket once its own buffer is
    # full, the kernel buffers fill, and the server's queue for it grows until the bound cuts it.
    async with asyncio.timeout(30):
        while not slow_connection.closing:
            started = loop.time()
            feed.server.hub.publish(["news"], "bulk", json.dumps({"n": published, "pad": PAD}))
            frame = await fast.frame()
            worst_latency_s = max(worst_latency_s, loop.time() - started)
            assert json.loads(frame["data"])["n"] == published  # in order, none lost
            published += 1
            assert slow_connection.queued_frames <= limits.max_queued_frames
    assert slow_connection.cut_for_overflow
    # The fast client was written to directly throughout; the slow one only until its socket buffers filled.
    assert feed.server.connections[fast.socket_id].frames_written_directly >= published
    assert 0 < slow_connection.frames_written_directly < published
    assert worst_latency_s < 1.0, f"the fast client waited {worst_latency_s:.3f} s for one event"
    # The cut client leaves the hub: publishing now reaches the fast client only.
    async with asyncio.timeout(10):
        while slow.socket_id in feed.server.connections:  # noqa: ASYNC110 - no event for "handler done"
            await asyncio.sleep(0.01)
    assert feed.server.hub.publish(["news"], "after", "{}") == 1
    assert (await fast.frame())["event"] == "after"
