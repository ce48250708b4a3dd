"""PgEventBus on a real PostgreSQL: events cross between buses (processes) exactly once each, a text too long
for NOTIFY is fetched from the store, and the bus reconnects after its connection is killed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg

from gatewayd.clock import ManualClock
from gatewayd.delivery.pg_notify import PgEventBus, asyncpg_dsn
from gatewayd.events import DomainEvent, MessageReceived, MessageStatusChanged, Subscription
from gatewayd.services.container import build_services
from gatewayd.services.gateway import ReceivedSms
from gatewayd.store.engine import create_engine, session_factory
from tests.services.world import physical_sim

AT = datetime(2026, 5, 11, 14, 0, tzinfo=UTC)


@contextlib.asynccontextmanager
async def running(bus: PgEventBus) -> AsyncIterator[PgEventBus]:
    task = asyncio.create_task(bus.run(), name="bus")
    try:
        async with asyncio.timeout(10):
            await bus.listening.wait()
        yield bus
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def collect(subscription: Subscription, count: int, timeout_s: float = 10.0) -> list[DomainEvent]:
    got: list[DomainEvent] = []
    async with asyncio.timeout(timeout_s):
        async for event in subscription:
            got.append(event)
            if len(got) == count:
                break
    return got


def status(message_id: int) -> MessageStatusChanged:
    return MessageStatusChanged(message_id, 1, "queued", None)


async def test_events_cross_processes_once_each_and_in_order(pg_url: str) -> None:
    async with running(PgEventBus.for_url(pg_url)) as gateway, running(PgEventBus.for_url(pg_url)) as api:
        on_api, on_gateway = api.subscribe(), gateway.subscribe()
        for n in range(200):
            gateway.publish(status(n))
        api.publish(status(1000))
        # Each process sees its own events at once and the other's in their publishing order.
        arrived = await collect(on_api, 201)
        assert arrived[0] == status(1000) and arrived[1:] == [status(n) for n in range(200)]
        # The publisher's own subscribers got each event once (its own notifications are skipped).
        assert await collect(on_gateway, 201) == [status(n) for n in range(200)] + [status(1000)]
        gateway.publish(status(2000))
        assert await collect(on_gateway, 1) == [status(2000)]  # not a duplicate of an earlier one
        assert gateway.dropped == api.dropped == 0


async def test_a_text_too_long_for_notify_is_fetched_by_id(pg_url: str) -> None:
    engine = create_engine(pg_url)
    sessions = session_factory(engine)
    try:
        services = build_services(sessions, ManualClock(AT))
        sim_id = await physical_sim(services, "860000000000001", "8944000000000000001", "+447700900100")
        text = "😀" * 1600 + "ü" * 1000  # 8400 bytes of UTF-8 alone: cannot travel in a notification
        [message_id] = await services.gateway.store_received(sim_id, [
            ReceivedSms(identity_key="long", sender="+4915100000001", text=text, data=None, encoding="ucs2",
                        received_at=AT, concat=None)])  # fmt: skip
        event = MessageReceived(message_id, sim_id, "+4915100000001", "+447700900100", text, AT)
        async with running(PgEventBus.for_url(pg_url)) as gateway, \
                running(PgEventBus.for_url(pg_url, sessions)) as api:  # fmt: skip
            on_api = api.subscribe()
            gateway.publish(event)
            assert await collect(on_api, 1) == [event]
    finally:
        await engine.dispose()


async def test_the_bus_reconnects_after_its_connection_is_killed(pg_url: str) -> None:
    async with running(PgEventBus.for_url(pg_url)) as gateway, running(PgEventBus.for_url(pg_url)) as api:
        on_api = api.subscribe()
        gateway.publish(status(1))
        assert await collect(on_api, 1) == [status(1)]
        assert not on_api.overflowed
        admin = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed == 2  # the two buses' connections: nothing else is connected

        def both_listening_again() -> bool:
            return bool(api.reconnects and gateway.reconnects and api.listening.is_set()
                        and gateway.listening.is_set())  # fmt: skip

        for _ in range(200):  # poll with a deadline: 200 × 50 ms
            if both_listening_again():
                break
            await asyncio.sleep(0.05)
        assert both_listening_again()
        # Whatever other processes published while the connection was down never reaches us: say so.
        assert on_api.overflowed
        gateway.publish(status(2))
        assert await collect(on_api, 1) == [status(2)]
