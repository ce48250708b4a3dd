"""The webhook outbox worker: claims due delivery rows, signs and POSTs them, records each attempt.

Theory of operation. A `pending` row is due when `next_attempt_at <= now`. A claim is one write
transaction that moves the row's `next_attempt_at` to the end of a lease (timeout + margin), bumps
`attempt` and stamps a fresh `claim_token`: SQLite serialises it (BEGIN IMMEDIATE), PostgreSQL skips
rows another worker holds (`FOR UPDATE SKIP LOCKED`), so no row is claimed twice. The outcome is written
back guarded by that token: success → `delivered`; failure → due again after the next step of the
schedule, or `failed` once `retry_count` retries are spent. A process that dies mid-claim leaves the
row to become due again when its lease ends, so every row is attempted until it is settled (at least
once; twice only when a process died between the receiver's answer and our commit).
Capacity: at most `max_in_flight` POSTs overall and `max_per_destination` per integration, and only
free capacity is claimed, so a slow or dead receiver holds its own slots and nobody else's.
Latency: the bus events that follow an outbox commit (a message stored, an outbound status, a lock)
wake the loop at once; otherwise it sleeps until the earliest scheduled retry or lease end, and at most
`safety_check_s` (rows written by another process, or events the bus dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.config import WebhooksSection
from gatewayd.delivery.destinations import (
    CheckingResolver,
    DestinationPolicy,
    DestinationRefused,
    refusal_as_text,
)
from gatewayd.events import (
    EventBus,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
    Subscription,
)
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models_webhooks import WebhookAttempt, WebhookDelivery, WebhookIntegration

log = logging.getLogger(__name__)

# ENDPOINTS.md: retry on 1m, 5m, 15m, 1h, 4h, 12h, 24h, then every 24h.
RETRY_SCHEDULE_S: tuple[int, ...] = (60, 300, 900, 3600, 14_400, 43_200, 86_400)
RESPONSE_EXCERPT_BYTES = 1024
FAILED_PASS_BACKOFF_S = 0.5  # after a pass failed (database locked or gone), before the next one
USER_AGENT = "SimRelay-Webhooks/1.0"
# Bus events published after a transaction that may have written outbox rows (webhook_events.py callers).
WAKING_EVENTS = (MessageReceived, MessageStatusChanged, SimLocked, SimUnlocked)


def retry_delay_s(failed_attempt: int) -> int:
    """Seconds until the retry that follows failed attempt number `failed_attempt` (1-based)."""
    if failed_attempt < 1:
        raise ValueError(f"attempts count from 1, got {failed_attempt}")
    return RETRY_SCHEDULE_S[min(failed_attempt, len(RETRY_SCHEDULE_S)) - 1]


def signature(secret: str, body: bytes) -> str:
    """`X-Simrelay-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed by the secret's text."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    success: bool
    http_status: int | None
    response_excerpt: str | None  # first KB of the body, decoded leniently
    duration_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class SenderSettings:
    max_in_flight: int = 64
    max_per_destination: int = 8
    safety_check_s: float = 1.0  # longest sleep without a wake-up: the net under the bus
    lease_margin_s: float = 15.0
    stop_grace_s: float = 5.0


def sender_settings(section: WebhooksSection) -> SenderSettings:
    return SenderSettings(
        max_in_flight=section.max_in_flight,
        max_per_destination=section.max_per_destination,
        safety_check_s=section.poll_interval_s,
        lease_margin_s=section.lease_margin_s,
    )


class WebhookPoster:
    """Signs and POSTs one body through an HTTP client whose resolver enforces the destination policy.

    `open()` keeps one pooled client until `close()` (the worker); without it each POST makes and closes
    its own client (the rare `test` sends of the API), so nothing is left open by a forgotten close.
    """

    def __init__(self, policy: DestinationPolicy, *, connections: int = 256) -> None:
        self._policy = policy
        self._connections = connections
        self._http: aiohttp.ClientSession | None = None

    def _new_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=CheckingResolver(self._policy), limit=self._connections, limit_per_host=0
        )
        return aiohttp.ClientSession(connector=connector, auto_decompress=False)

    def open(self) -> None:
        if self._http is None:
            self._http = self._new_client()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post(
        self,
        url: str,
        body: str,
        secret: str,
        *,
        event: str,
        event_id: str,
        custom_headers: dict[str, str],
        timeout_s: float,
        sent_at: datetime,
    ) -> AttemptOutcome:
        if self._http is not None:
            return await self._post(
                self._http,
                url,
                body,
                secret,
                event=event,
                event_id=event_id,
                custom_headers=custom_headers,
                timeout_s=timeout_s,
                sent_at=sent_at,
            )
        async with self._new_client() as http:
            return await self._post(
                http,
                url,
                body,
                secret,
                event=event,
                event_id=event_id,
                custom_headers=custom_headers,
                timeout_s=timeout_s,
                sent_at=sent_at,
            )

    async def _post(
        self,
        http: aiohttp.ClientSession,
        url: str,
        body: str,
        secret: str,
        *,
        event: str,
        event_id: str,
        custom_headers: dict[str, str],
        timeout_s: float,
        sent_at: datetime,
    ) -> AttemptOutcome:
        raw = body.encode("utf-8")
        headers = {
            **custom_headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Simrelay-Event": event,
            "X-Simrelay-Delivery": event_id,
            "X-Simrelay-Timestamp": str(int(sent_at.timestamp())),
            "X-Simrelay-Signature": signature(secret, raw),
        }
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                # No redirects: a 3xx could point anywhere, including where the policy forbids.
                async with http.post(url, data=raw, headers=headers, allow_redirects=False) as reply:
                    excerpt = await reply.content.read(RESPONSE_EXCERPT_BYTES)
                    status = reply.status
        except TimeoutError:
            return AttemptOutcome(False, None, None, _ms_since(started), f"timed out after {timeout_s:g} s")
        except (aiohttp.ClientError, OSError, DestinationRefused, ValueError) as exc:
            detail = refusal_as_text(exc) or type(exc).__name__
            return AttemptOutcome(False, None, None, _ms_since(started), detail)
        text = excerpt.decode("utf-8", errors="replace")
        ok = 200 <= status < 300
        return AttemptOutcome(ok, status, text, _ms_since(started), None if ok else f"HTTP {status}")


def _aware(moment: datetime) -> datetime:
    """SQLite can hand back a naive aggregate (MIN) even for a UTC column; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ms_since(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    integration_id: int
    claim_token: str
    event: str
    event_id: str
    body: str
    attempt: int
    retry_count: int
    url: str
    headers: dict[str, str]
    timeout_s: int
    secret_ciphertext: bytes


@dataclass(frozen=True, slots=True)
class _Result:
    claimed: Claimed
    started_at: datetime
    outcome: AttemptOutcome


class WebhookSender:
    """The worker. `run()` is its loop (owned by the runtime); `run_due()` does one pass and waits for it
    (tests drive it with a ManualClock)."""

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
        self._in_flight: dict[int, int] = {}  # integration id → POSTs under way
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[_Result] = []
        self._changed = asyncio.Event()
        self.attempts_made = 0

    async def serve(self) -> None:
        """`run()` with the pooled HTTP client open and woken by the bus; the runtime owns this task.

        The subscription is taken before the first pass, so a commit is either seen by that pass or
        announced to us afterwards: nothing waits for the safety check in between.
        """
        self._poster.open()
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

    async def _pass(self) -> int:
        """Record the finished attempts and claim what is due in ONE write transaction (one writer turn
        and one fsync on SQLite, where ingest competes for the same lock), then start the POSTs."""
        free = self._settings.max_in_flight - sum(self._in_flight.values())
        claiming = free > 0 and await self._is_due()
        if not claiming and not self._results:
            return 0
        batch, self._results = self._results, []
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                if batch:
                    await record_outcomes(session, batch_rows(batch), now)
                claimed = await self._claim_in(session, free, now) if claiming else []
        except BaseException:
            self._results[:0] = batch  # recorded by a later pass, or by `_stop` when cancelled
            raise
        self._start(claimed)
        return len(claimed)

    async def _is_due(self) -> bool:
        next_due = await self._next_due_at()
        return next_due is not None and _aware(next_due) <= self._clock.now()

    def _start(self, claimed: list[Claimed]) -> None:
        for item in claimed:
            self._in_flight[item.integration_id] = self._in_flight.get(item.integration_id, 0) + 1
            task = asyncio.create_task(self._deliver(item), name=f"webhook-{item.delivery_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _next_due_at(self) -> datetime | None:
        """When the earliest pending row is due (None: nothing pending). A cheap read, so an idle worker
        never takes the write lock."""
        async with read_transaction(self._sessions) as session:
            earliest: datetime | None = await session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(WebhookDelivery.status == "pending")
            )
        return earliest

    async def _idle_for_s(self) -> float:
        """How long the loop may sleep: until the next due row (retry or lease end), capped by the
        safety check; 0 when rows are due but the capacity is full (a finishing POST wakes us)."""
        cap = self._settings.safety_check_s
        if self._results:
            return 0.0
        free = self._settings.max_in_flight - sum(self._in_flight.values())
        if free <= 0:
            return cap
        next_due = await self._next_due_at()
        if next_due is None:
            return cap
        seconds = (_aware(next_due) - self._clock.now()).total_seconds()
        return min(max(seconds, 0.0), cap)

    async def _claim(self, free: int) -> list[Claimed]:
        """Claim up to `free` due rows in a transaction of its own (without starting them)."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            return await self._claim_in(session, free, now)

    async def _claim_in(self, session: AsyncSession, free: int, now: datetime) -> list[Claimed]:
        claimed: list[Claimed] = []
        due = await session.execute(
            select(WebhookDelivery.webhook_integration_id, func.min(WebhookDelivery.next_attempt_at))
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .group_by(WebhookDelivery.webhook_integration_id)
            .order_by(func.min(WebhookDelivery.next_attempt_at))
        )
        for integration_id, _oldest in due.all():
            room = min(
                free - len(claimed),
                self._settings.max_per_destination - self._in_flight.get(integration_id, 0),
            )
            if room > 0:
                claimed += await self._claim_for(session, integration_id, room, now)
            if len(claimed) >= free:
                break
        return claimed

    async def _claim_for(
        self, session: AsyncSession, integration_id: int, room: int, now: datetime
    ) -> list[Claimed]:
        integration = await session.get(WebhookIntegration, integration_id)
        if integration is None:
            return []
        due_ids = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.webhook_integration_id == integration_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(room)
        )
        ids = list(await session.scalars(due_ids.with_for_update(skip_locked=True)))
        if not integration.is_active:
            # An inactive integration receives nothing (issue 6): settle what was queued for it.
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(
                    status="failed", error="integration is disabled", next_attempt_at=None, updated_at=now
                )
            )
            return []
        token = secrets.token_hex(16)
        lease_end = now + timedelta(seconds=integration.timeout_seconds + self._settings.lease_margin_s)
        rows = await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(
                attempt=WebhookDelivery.attempt + 1,
                claim_token=token,
                next_attempt_at=lease_end,
                updated_at=now,
            )
            .returning(
                WebhookDelivery.id,
                WebhookDelivery.event,
                WebhookDelivery.event_id,
                WebhookDelivery.body,
                WebhookDelivery.attempt,
            )
        )
        return [
            Claimed(
                delivery_id=row[0],
                integration_id=integration_id,
                claim_token=token,
                event=row[1],
                event_id=row[2],
                body=row[3],
                attempt=row[4],
                retry_count=integration.retry_count,
                url=integration.url,
                headers=dict(integration.headers),
                timeout_s=integration.timeout_seconds,
                secret_ciphertext=integration.secret_ciphertext,
            )
            for row in rows.all()
        ]

    # -- delivering and recording ------------------------------------------------------------------------

    async def _deliver(self, item: Claimed) -> None:
        started_at = self._clock.now()
        try:
            outcome = await self._poster.post(
                item.url,
                item.body,
                self._open_secret(item.secret_ciphertext),
                event=item.event,
                event_id=item.event_id,
                custom_headers=item.headers,
                timeout_s=item.timeout_s,
                sent_at=started_at,
            )
        except Exception as exc:  # task boundary: a bug here must not leave the row claimed silently
            log.exception("webhook delivery %s crashed", item.delivery_id)
            outcome = AttemptOutcome(False, None, None, 0, f"internal error: {type(exc).__name__}")
        finally:
            self._in_flight[item.integration_id] -= 1
            if not self._in_flight[item.integration_id]:
                del self._in_flight[item.integration_id]
        self.attempts_made += 1
        self._results.append(_Result(item, started_at, outcome))
        self._changed.set()

    async def _flush_results(self) -> None:
        """Record every finished attempt in ONE transaction (SQLite pays one fsync for the batch)."""
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            async with write_transaction(self._sessions) as session:
                await record_outcomes(session, batch_rows(batch), self._clock.now())
        except asyncio.CancelledError:
            self._results[:0] = batch  # stopping: `_stop` records them after the cancellation
            raise
        except Exception:
            # Leases bring these rows back; keep the results so a later flush can still record them.
            log.exception("recording %d webhook attempts failed; retrying on the next pass", len(batch))
            self._results[:0] = batch


def batch_rows(batch: Sequence[_Result]) -> list[tuple[Claimed, datetime, AttemptOutcome]]:
    return [(result.claimed, result.started_at, result.outcome) for result in batch]


async def record_outcomes(
    session: AsyncSession, batch: Sequence[tuple[Claimed, datetime, AttemptOutcome]], now: datetime
) -> None:
    """Attempt log rows plus the new state of each delivery, each update guarded by its claim token."""
    await session.execute(
        insert(WebhookAttempt),
        [
            {
                "webhook_delivery_id": item.delivery_id,
                "attempt": item.attempt,
                "started_at": started_at,
                "duration_ms": outcome.duration_ms,
                "http_status": outcome.http_status,
                "response_excerpt": outcome.response_excerpt,
                "error": outcome.error,
            }
            for item, started_at, outcome in batch
        ],
    )
    for item, _, outcome in batch:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == item.delivery_id, WebhookDelivery.claim_token == item.claim_token)
            .values(**settled_values(item, outcome, now))
        )


def settled_values(item: Claimed, outcome: AttemptOutcome, now: datetime) -> dict[str, Any]:
    """The delivery's columns after this attempt: delivered, scheduled again, or failed for good."""
    common: dict[str, Any] = {
        "claim_token": None,
        "http_status": outcome.http_status,
        "updated_at": now,
        "error": outcome.error,
    }
    if outcome.success:
        return {**common, "status": "delivered", "delivered_at": now, "next_attempt_at": None}
    if item.attempt > item.retry_count:  # the first attempt plus retry_count retries are spent
        return {**common, "status": "failed", "next_attempt_at": None}
    return {**common, "next_attempt_at": now + timedelta(seconds=retry_delay_s(item.attempt))}
