"""The outbox worker against a real receiver: signatures, the retry schedule on an injected clock,
settlement, leases that bring back a claim lost with its process, no double claims, isolation of a
slow receiver."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.delivery.webhook_sender import (
    RETRY_SCHEDULE_S,
    SenderSettings,
    WebhookPoster,
    WebhookSender,
    retry_delay_s,
)
from gatewayd.store.engine import read_transaction
from gatewayd.store.models_webhooks import WebhookAttempt, WebhookDelivery
from tests.delivery.conftest import Rig
from tests.system.conftest import poll_until


async def deliveries(rig: Rig) -> list[WebhookDelivery]:
    async with read_transaction(rig.sessions) as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def test_an_inbound_sms_is_posted_once_signed_with_the_envelope_and_custom_headers(rig: Rig) -> None:
    await rig.integration()
    (message_id,) = await rig.inbound(1)
    sender = rig.sender()
    assert await sender.run_due() == 1
    (got,) = rig.receiver.delivered()
    body = got["body"]
    assert body["event"] == "message.inbound"
    assert body["timestamp"] == "2026-05-11T14:00:00Z"
    assert body["data"] == {
        "message_id": message_id,
        "hosted_sim_id": rig.sim_id,
        "from": "+4915100000001",
        "to": "+447700900100",
        "body": "sms text 0",
        "received_at": "2026-05-11T14:00:00Z",
    }
    assert got["headers"]["X-Customer"] == "acme"
    assert got["headers"]["X-Simrelay-Timestamp"] == str(int(rig.clock.now().timestamp()))
    (row,) = await deliveries(rig)
    assert (row.status, row.attempt, row.http_status, row.next_attempt_at) == ("delivered", 1, 200, None)
    assert await sender.run_due() == 0  # settled: never sent again


def test_the_schedule_is_the_published_one_then_every_day() -> None:
    assert [retry_delay_s(n) for n in range(1, 10)] == [
        60,
        300,
        900,
        3600,
        14_400,
        43_200,
        86_400,
        86_400,
        86_400,
    ]
    assert RETRY_SCHEDULE_S[-1] == 24 * 3600


async def test_a_dead_receiver_gets_attempts_at_the_scheduled_times_then_the_delivery_fails(rig: Rig) -> None:
    await rig.integration(retry_count=3)
    rig.receiver.default_status = 503
    await rig.inbound(1)
    sender = rig.sender()
    attempts_at = [await sender.run_due()]
    for delay in (60, 300, 900, 3600):
        rig.clock.advance(delay - 1)
        assert await sender.run_due() == 0, f"an attempt came before its time ({delay} s)"
        rig.clock.advance(1)
        attempts_at.append(await sender.run_due())
    assert attempts_at == [1, 1, 1, 1, 0]  # the first attempt and 3 retries, then nothing
    (row,) = await deliveries(rig)
    assert (row.status, row.attempt, row.http_status, row.error) == ("failed", 4, 503, "HTTP 503")
    async with read_transaction(rig.sessions) as session:
        logged = list(await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))
    assert [a.attempt for a in logged] == [1, 2, 3, 4]
    assert all(a.http_status == 503 and a.response_excerpt == "answer 503" for a in logged)


async def test_a_receiver_back_before_the_last_attempt_gets_the_same_event_id(rig: Rig) -> None:
    await rig.integration(retry_count=3)
    rig.receiver.statuses = [500, 500]
    await rig.inbound(1)
    sender = rig.sender()
    await sender.run_due()
    rig.clock.advance(60)
    await sender.run_due()
    rig.clock.advance(300)
    await sender.run_due()
    ids = {r["body"]["event_id"] for r in rig.receiver.received}
    assert len(rig.receiver.received) == 3 and len(ids) == 1
    assert len(rig.receiver.delivered()) == 1
    (row,) = await deliveries(rig)
    assert (row.status, row.attempt, row.event_id) == ("delivered", 3, ids.pop())


async def test_a_claim_lost_with_its_process_is_retried_after_the_lease_once(rig: Rig) -> None:
    await rig.integration(timeout_s=5)
    await rig.inbound(3)
    crashed = rig.sender(lease_margin_s=10)
    claimed = await crashed._claim(10)  # claimed, then the process "dies" before any POST
    assert len(claimed) == 3
    survivor = rig.sender(lease_margin_s=10)
    assert await survivor.run_due() == 0  # leased: not due yet
    rig.clock.advance(15)  # timeout 5 + margin 10
    assert await survivor.run_due() == 3
    assert await survivor.run_due() == 0
    assert len(rig.receiver.delivered()) == 3
    assert {row.status for row in await deliveries(rig)} == {"delivered"}


async def test_two_workers_never_claim_the_same_row(rig: Rig) -> None:
    await rig.integration()
    await rig.inbound(60)
    first, second = rig.sender(max_per_destination=8), rig.sender(max_per_destination=8)
    while sum(await asyncio.gather(first.run_due(), second.run_due())):
        pass
    event_ids = [r["body"]["event_id"] for r in rig.receiver.received]
    assert len(event_ids) == len(set(event_ids)) == 60


async def test_a_hanging_receiver_does_not_delay_another_integration(rig: Rig) -> None:
    rig.receiver.hang = asyncio.Event()
    await rig.integration("/slow", timeout_s=60)
    await rig.integration("/hook")
    sender = rig.sender(max_in_flight=8, max_per_destination=2, safety_check_s=0.01)
    await rig.inbound(20)
    worker = asyncio.create_task(sender.run())
    try:
        await rig.receiver.wait_for(20, "/hook")  # all 20 while /slow holds its 2 slots
        slow_seen = [r for r in rig.receiver.received if r["path"] == "/slow"]
        assert slow_seen == []  # still hanging
    finally:
        rig.receiver.hang.set()
        await rig.receiver.wait_for(20, "/slow")
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    async with read_transaction(rig.sessions) as session:
        delivered = await session.scalar(select(func.count()).where(WebhookDelivery.status == "delivered"))
    rows = await deliveries(rig)
    assert delivered == 40, [(r.status, r.attempt, r.error) for r in rows if r.status != "delivered"]


async def test_a_commit_wakes_the_serving_worker_long_before_its_safety_check(rig: Rig) -> None:
    """The safety check is a minute away, yet each inbound SMS is POSTed as soon as it is stored:
    the MessageReceived published after the commit wakes the loop."""
    await rig.integration()
    sender = rig.sender(woken_by_bus=True, safety_check_s=60)
    worker = asyncio.create_task(sender.serve())
    try:
        for wave in range(1, 4):
            await rig.inbound(1, prefix=f"wave{wave}")
            await rig.receiver.wait_for(wave, timeout_s=5)  # far below the 60 s safety check

            async def settled(expected: int = wave) -> bool:
                return sum(row.status == "delivered" for row in await deliveries(rig)) == expected

            await poll_until(settled, timeout_s=5, interval_s=0.01)  # the loop is idle again
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert [r["body"]["data"]["body"] for r in rig.receiver.delivered()] == [
        "wave1 text 0",
        "wave2 text 0",
        "wave3 text 0",
    ]


async def test_without_a_bus_the_safety_check_still_finds_new_rows(rig: Rig) -> None:
    await rig.integration()
    sender = rig.sender(safety_check_s=0.05)
    worker = asyncio.create_task(sender.serve())
    try:
        await rig.inbound(2)
        await rig.receiver.wait_for(2, timeout_s=5)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def test_an_idle_worker_reads_the_outbox_once_per_safety_check(rig: Rig) -> None:
    """The pass's "is anything due?" read also tells the loop how long to sleep: no second read right
    after it (an idle daemon's most frequent database work)."""
    loop, safety_s = asyncio.get_running_loop(), 0.1
    reads_at: list[float] = []

    def seen(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if "min(webhook_deliveries.next_attempt_at)" in statement:
            reads_at.append(loop.time())

    engine = rig.sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    worker = asyncio.create_task(rig.sender(safety_check_s=safety_s).serve())
    try:

        async def reads(count: int = 6) -> bool:
            return len(reads_at) >= count

        await poll_until(reads, timeout_s=10)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        event.remove(engine, "before_cursor_execute", seen)
    gaps = [later - earlier for earlier, later in zip(reads_at, reads_at[1:], strict=False)]
    assert min(gaps) >= safety_s * 0.9, gaps  # twice per pass would put two reads microseconds apart


class LockedAtFirst:
    """The rig's session factory, but the first `failures` sessions fail as SQLite does when another
    writer kept the lock past the busy timeout."""

    def __init__(self, real: async_sessionmaker[AsyncSession], failures: int) -> None:
        self.real, self.failures, self.kw = real, failures, real.kw

    def __call__(self) -> AsyncSession:
        if self.failures:
            self.failures -= 1
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
        return self.real()


async def test_a_pass_that_meets_a_locked_database_does_not_end_the_worker(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.integration()
    await rig.inbound(2)
    flaky = LockedAtFirst(rig.sessions, failures=2)
    poster = WebhookPoster(rig.options.policy)
    sender = WebhookSender(
        flaky,  # type: ignore[arg-type]
        rig.clock,
        poster,
        rig.services.webhooks.secret_box.open,
        SenderSettings(safety_check_s=60),
    )
    worker = asyncio.create_task(sender.serve())
    try:
        await rig.receiver.wait_for(2, timeout_s=10)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert flaky.failures == 0
    assert caplog.text.count("webhook pass failed") == 2
