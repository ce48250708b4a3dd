"""The webhook outbox worker: claims due delivery rows, POSTs them, records each attempt.

Theory of operation. A `pending` row is due when `next_attempt_at <= now`. A claim is one write
transaction that moves the row's `next_attempt_at` to the end of a lease, bumps `attempt` and stamps a
fresh `claim_token`: SQLite serialises it (BEGIN IMMEDIATE), PostgreSQL skips rows another worker holds
(`FOR UPDATE SKIP LOCKED`), so no row is claimed twice. The outcome is written back guarded by that
token: success → `delivered`; failure → due again after the next step of the schedule, or `failed` once
`retry_count` retries are spent. A process that dies mid-claim leaves the row to become due again when
its lease ends, so every row is attempted until it is settled (at least once; twice only when a process
died between the receiver's answer and our commit).
Capacity: at most `max_in_flight` POSTs overall and `max_per_destination` per integration. A destination
whose last POST was a quick success may hold `claim_depth` times that many rows (queued behind its POSTs;
the lease covers the queue), so one write transaction feeds many POSTs; any other holds only what it can
POST at once, so a slow or dead receiver holds its own slots and nobody else's. A queued row whose lease
would end before its POST could time out is released unposted.
Latency: the bus events that follow an outbox commit wake the loop at once; otherwise it sleeps until
the earliest scheduled retry or lease end, and at most `safety_check_s`. Finished attempts are recorded
and new rows claimed in ONE write transaction per pass (one writer turn, one fsync on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.config import WebhooksSection
from gatewayd.delivery.webhook_claims import (
    RETRY_SCHEDULE_S,
    Claimed,
    ClaimRoom,
    claim,
    due_destinations,
    next_due_at,
    record_outcomes,
    release,
    retry_delay_s,
)
from gatewayd.delivery.webhook_poster import AttemptOutcome, WebhookPoster, signature
from gatewayd.events import (
    EventBus,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
    Subscription,
)
from gatewayd.store.engine import read_transaction, write_transaction

__all__ = [
    "RETRY_SCHEDULE_S", "AttemptOutcome", "SenderSettings", "WebhookPoster", "WebhookSender",
    "retry_delay_s", "sender_settings", "signature",
]  # fmt: skip

log = logging.getLogger(__name__)

FAILED_PASS_BACKOFF_S = 0.5  # after a pass failed (database locked or gone), before the next one
QUICK_REPLY_MS = 1000  # a destination answering 2xx within this may hold claim_depth rounds of rows
# Bus events published after a transaction that may have written outbox rows (webhook_events.py callers).
WAKING_EVENTS = (MessageReceived, MessageStatusChanged, SimLocked, SimUnlocked)


@dataclass(frozen=True, slots=True)
class SenderSettings:
    max_in_flight: int = 64
    max_per_destination: int = 8
    claim_depth: int = 8  # rows a quick destination may hold, in rounds of max_per_destination
    safety_check_s: float = 5.0  # longest sleep without a wake-up: the net under the bus
    lease_margin_s: float = 15.0
    stop_grace_s: float = 5.0


def sender_settings(section: WebhooksSection) -> SenderSettings:
    return SenderSettings(
        max_in_flight=section.max_in_flight,
        max_per_destination=section.max_per_destination,
        safety_check_s=section.poll_interval_s,
        lease_margin_s=section.lease_margin_s,
    )


@dataclass(frozen=True, slots=True)
class _Result:
    claimed: Claimed
    started_at: datetime
    outcome: AttemptOutcome | None  # None: released unposted (its lease ran short in the queue)


class WebhookSender:
    """The worker. `serve()`/`run()` is its loop (owned by the runtime); `run_due()` does one pass and
    waits for it (tests drive it with a ManualClock)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        poster: WebhookPoster,
        open_secret: Callable[[bytes], str],
        settings: SenderSettings | None = None,
        *,
        bus: EventBus | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._poster = poster
        self._open_secret = open_secret
        self._settings = settings or SenderSettings()
        self._bus = bus
        self._held: dict[int, int] = {}  # integration id → claimed rows not yet finished
        self._lanes: dict[int, asyncio.Semaphore] = {}  # integration id → its POST slots
        self._overall = asyncio.Semaphore(self._settings.max_in_flight)
        self._quick: set[int] = set()  # integrations whose last POST was a quick success
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[_Result] = []
        self._changed = asyncio.Event()
        self._announced = False  # a bus event said an outbox commit happened since the last pass
        # What the last pass read as the next due time, when it claimed nothing after reading it.
        self._next_due_read: tuple[datetime | None] | None = None
        self.attempts_made = 0

    async def serve(self) -> None:
        """`run()` with the pooled HTTP clients open and woken by the bus; the runtime owns this task.

        The subscription is taken before the first pass, so a commit is either seen by that pass or
        announced to us afterwards: nothing waits for the safety check in between.
        """
        self._poster.open(per_destination=self._settings.max_per_destination)
        try:
            if self._bus is None:
                await self.run()
                return
            subscription = self._bus.subscribe()
            follower = asyncio.create_task(self._follow(subscription), name="webhooks-wake")
            try:
                await self.run()
            finally:
                subscription.close()
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
        finally:
            await self._poster.close()

    async def _follow(self, subscription: Subscription) -> None:
        async for event in subscription:
            if isinstance(event, WAKING_EVENTS):
                self._announced = True
                self._changed.set()

    def wake(self) -> None:
        """New rows may be due (called after a commit that wrote some); the loop looks at once."""
        self._changed.set()

    async def run(self) -> None:
        """Claim, POST and record until cancelled; on cancellation in-flight POSTs get `stop_grace_s`."""
        try:
            while True:
                self._changed.clear()
                try:
                    await self._pass()
                    idle_s = await self._idle_for_s()
                except Exception:  # task boundary: a busy database must not end deliveries for good
                    log.exception("webhook pass failed; trying again in %.1f s", FAILED_PASS_BACKOFF_S)
                    await asyncio.sleep(FAILED_PASS_BACKOFF_S)
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle_s):
                        await self._changed.wait()
        finally:
            await asyncio.shield(self._stop())

    async def run_due(self) -> int:
        """One pass: claim what is due now (within capacity), POST it all, record it; returns the count."""
        started = await self._pass()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._flush_results()
        return started

    async def _stop(self) -> None:
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=self._settings.stop_grace_s)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await self._flush_results()

    # -- claiming ---------------------------------------------------------------------------------------

    def _free(self) -> int:
        s = self._settings
        return s.max_in_flight * s.claim_depth - sum(self._held.values())

    async def _pass(self) -> int:
        """Record the finished attempts and claim what is due in ONE write transaction, then start the
        POSTs. Without finished attempts or an announced commit, a cheap read decides whether the write
        lock is worth taking (the announced case skips it: one read transaction less on the latency path)."""
        announced, self._announced = self._announced, False
        self._next_due_read = None
        claiming = self._free() > 0 and (bool(self._results) or announced or await self._is_due())
        if not claiming and not self._results:
            return 0  # the read above (if any) still tells `_idle_for_s` how long to sleep
        self._next_due_read = None
        batch, self._results = self._results, []
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                await _record(session, batch, now)
                claimed = await self._claim_in(session, now, self._free()) if claiming else []
        except BaseException:
            self._results[:0] = batch  # recorded by a later pass, or by `_stop` when cancelled
            raise
        self._start(claimed)
        return len(claimed)

    async def _is_due(self) -> bool:
        async with read_transaction(self._sessions) as session:
            next_due = await next_due_at(session)
        self._next_due_read = (next_due,)
        return next_due is not None and next_due <= self._clock.now()

    def _start(self, claimed: list[Claimed]) -> None:
        for item in claimed:
            self._held[item.integration_id] = self._held.get(item.integration_id, 0) + 1
            task = asyncio.create_task(self._deliver(item), name=f"webhook-{item.delivery_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _idle_for_s(self) -> float:
        """How long the loop may sleep: until the next due row (retry or lease end), capped by the
        safety check; 0 when attempts wait to be recorded; the cap when the capacity is full (a
        finishing POST wakes us). A pass that only read the next due time and claimed nothing left it
        here: an idle worker reads once per safety check, not twice."""
        cap = self._settings.safety_check_s
        read, self._next_due_read = self._next_due_read, None
        if self._results:
            return 0.0
        if self._free() <= 0:
            return cap
        if read is not None:
            next_due = read[0]
        else:
            async with read_transaction(self._sessions) as session:
                next_due = await next_due_at(session)
        if next_due is None:
            return cap
        seconds = (next_due - self._clock.now()).total_seconds()
        return min(max(seconds, 0.0), cap)

    async def _claim(self, free: int) -> list[Claimed]:
        """Claim due rows (within capacity) in a transaction of its own, without starting them."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            return await self._claim_in(session, now, min(free, self._free()))

    async def _claim_in(self, session: AsyncSession, now: datetime, free: int) -> list[Claimed]:
        s = self._settings
        rooms: dict[int, ClaimRoom] = {}
        for integration_id in await due_destinations(session, now):
            held = self._held.get(integration_id, 0)
            depth = s.claim_depth if integration_id in self._quick else 1
            room = min(free, s.max_per_destination * depth - held)
            if room > 0:
                rooms[integration_id] = ClaimRoom(room, held, s.max_per_destination)
                free -= room
            if free <= 0:
                break
        return await claim(
            session, rooms, now, open_secret=self._open_secret, lease_margin_s=s.lease_margin_s
        )

    # -- delivering and recording ------------------------------------------------------------------------

    def _lane(self, integration_id: int) -> asyncio.Semaphore:
        lane = self._lanes.get(integration_id)
        if lane is None:
            lane = self._lanes[integration_id] = asyncio.Semaphore(self._settings.max_per_destination)
        return lane

    async def _deliver(self, item: Claimed) -> None:
        started_at = self._clock.now()
        outcome: AttemptOutcome | None = None
        try:
            async with self._lane(item.integration_id), self._overall:
                started_at = self._clock.now()
                if started_at + timedelta(seconds=item.request.timeout_s) <= item.lease_end:
                    outcome = await self._poster.post_signed(item.request, started_at)
        except Exception as exc:  # task boundary: a bug here must not leave the row claimed silently
            log.exception("webhook delivery %s crashed", item.delivery_id)
            outcome = AttemptOutcome(False, None, None, 0, f"internal error: {type(exc).__name__}")
        finally:
            self._finished(item.integration_id)
        if outcome is not None:
            self.attempts_made += 1
            if outcome.success and outcome.duration_ms <= QUICK_REPLY_MS:
                self._quick.add(item.integration_id)
            else:
                self._quick.discard(item.integration_id)
        self._results.append(_Result(item, started_at, outcome))
        self._changed.set()

    def _finished(self, integration_id: int) -> None:
        self._held[integration_id] -= 1
        if not self._held[integration_id]:
            del self._held[integration_id]
            self._lanes.pop(integration_id, None)  # nobody waits on it: no row of it is held

    async def _flush_results(self) -> None:
        """Record every finished attempt in ONE transaction (SQLite pays one fsync for the batch)."""
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            async with write_transaction(self._sessions) as session:
                await _record(session, batch, self._clock.now())
        except asyncio.CancelledError:
            self._results[:0] = batch  # stopping: `_stop` records them after the cancellation
            raise
        except Exception:
            # Leases bring these rows back; keep the results so a later flush can still record them.
            log.exception("recording %d webhook attempts failed; retrying on the next pass", len(batch))
            self._results[:0] = batch


async def _record(session: AsyncSession, batch: list[_Result], now: datetime) -> None:
    attempted = [(r.claimed, r.started_at, r.outcome) for r in batch if r.outcome is not None]
    await record_outcomes(session, attempted, now)
    await release(session, [r.claimed for r in batch if r.outcome is None], now)
