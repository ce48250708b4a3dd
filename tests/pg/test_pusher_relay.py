"""RelayedHub over two event buses on one PostgreSQL (two API processes): an event a client publishes on one
host reaches the subscribers of both, once each; the domain-event path (`publish_here`) stays local; a
payload over the NOTIFY limit is delivered locally only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from api.pusher.relay import RelayedHub
from api.pusher.wire import OutboundFrame
from gatewayd.delivery.pg_notify import PgEventBus


class Client:
    def __init__(self, socket_id: str) -> None:
        self.socket_id = socket_id
        self.frames: list[OutboundFrame] = []
        self.arrived = asyncio.Event()

    def deliver(self, frame: OutboundFrame) -> None:
        self.frames.append(frame)
        self.arrived.set()


@contextlib.asynccontextmanager
async def api_host(url: str) -> AsyncIterator[tuple[PgEventBus, RelayedHub]]:
    bus = PgEventBus.for_url(url)
    hub = RelayedHub(bus)  # before run: the connection LISTENs to the relay channel too
    task = asyncio.create_task(bus.run())
    try:
        async with asyncio.timeout(10):
            await bus.listening.wait()
        yield bus, hub
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def frames_after(client: Client, count: int) -> None:
    async with asyncio.timeout(10):
        while len(client.frames) < count:
            client.arrived.clear()
            await client.arrived.wait()


async def test_client_events_reach_every_host_once_and_domain_events_stay_local(pg_url: str) -> None:
    async with api_host(pg_url) as (_, first), api_host(pg_url) as (_, second):
        here, there = Client("1.1"), Client("2.2")
        first.join("news", here, None)
        second.join("news", there, None)
        here.frames.clear()
        there.frames.clear()  # the subscription_succeeded frames
        assert first.publish(["news"], "breaking", '{"n":1}') == 1
        await frames_after(there, 1)
        second.publish_here(["news"], "domain", '{"n":2}')  # fan-out path: this host only
        assert second.publish(["news"], "breaking", '{"n":3}') == 1
        await frames_after(here, 2)
        await frames_after(there, 3)
        assert len(here.frames) == 2 and first.relayed_in == 1 and second.relayed_in == 1
        assert first.relayed_out == second.relayed_out == 1


async def test_a_payload_over_the_notify_limit_is_delivered_locally_only(pg_url: str) -> None:
    async with api_host(pg_url) as (_, first), api_host(pg_url) as (_, second):
        here, there = Client("1.1"), Client("2.2")
        first.join("news", here, None)
        second.join("news", there, None)
        assert first.publish(["news"], "big", "x" * 9000) == 1
        assert first.publish(["news"], "small", "{}") == 1
        # One connection's NOTIFYs arrive in order: had the big one been sent, it would precede the small.
        await frames_after(there, 2)  # subscription_succeeded, then small
        assert first.relayed_out == 1 and second.relayed_in == 1
