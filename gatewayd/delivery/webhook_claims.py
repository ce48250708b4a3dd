"""The outbox's SQL for the webhook worker: claim due rows under a lease, write attempts back, release
claims never started. Each function is a fixed number of statements whatever the batch size (SQLite
pays ~0.6 ms of driver hops per statement, bench/RESULTS.md). Never commits, never POSTs.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.delivery.webhook_poster import AttemptOutcome, SignedRequest, signature
from gatewayd.store.models_webhooks import WebhookAttempt, WebhookDelivery, WebhookIntegration

# ENDPOINTS.md: retry on 1m, 5m, 15m, 1h, 4h, 12h, 24h, then every 24h.
RETRY_SCHEDULE_S: tuple[int, ...] = (60, 300, 900, 3600, 14_400, 43_200, 86_400)

_DELIVERIES = cast(Table, WebhookDelivery.__table__)  # a mapped class's table is a Table


def retry_delay_s(failed_attempt: int) -> int:
    """Seconds until the retry that follows failed attempt number `failed_attempt` (1-based)."""
    if failed_attempt < 1:
        raise ValueError(f"attempts count from 1, got {failed_attempt}")
    return RETRY_SCHEDULE_S[min(failed_attempt, len(RETRY_SCHEDULE_S)) - 1]


def aware(moment: datetime) -> datetime:
    """SQLite can hand back a naive aggregate (MIN) even for a UTC column; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    claim_token: str
    attempt: int
    retry_count: int
    lease_end: datetime  # not started by then minus its timeout: released, not POSTed (another may)
    request: SignedRequest

    @property
    def integration_id(self) -> int:
        return self.request.destination


@dataclass(frozen=True, slots=True)
class ClaimRoom:
    """How many rows one destination may take now, and how many it already holds (queued or posting):
    the lease covers every POST ahead of the last claimed row, `per_destination` at a time."""

    room: int
    held: int
    per_destination: int


async def due_destinations(session: AsyncSession, now: datetime) -> list[int]:
    """Integrations with due rows, the one waiting longest first."""
    due = await session.execute(
        select(WebhookDelivery.webhook_integration_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .group_by(WebhookDelivery.webhook_integration_id)
        .order_by(func.min(WebhookDelivery.next_attempt_at))
    )
    return list(due.scalars())


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending row is due (None: nothing pending)."""
    earliest: datetime | None = await session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at)).where(WebhookDelivery.status == "pending")
    )
    return None if earliest is None else aware(earliest)


async def claim(
    session: AsyncSession,
    rooms: Mapping[int, ClaimRoom],
    now: datetime,
    *,
    open_secret: Callable[[bytes], str],
    lease_margin_s: float,
) -> list[Claimed]:
    """Claim up to `room` due rows of each destination in `rooms`: one statement per destination plus
    one for their settings; each secret is decrypted once per call, each body signed once."""
    if not rooms:
        return []
    integrations = await session.scalars(
        select(WebhookIntegration).where(WebhookIntegration.id.in_(list(rooms)))
    )
    claimed: list[Claimed] = []
    for integration in integrations:
        if not integration.is_active:
            await _fail_inactive(session, integration.id, now)
            continue
        claimed += await _claim_for(
            session,
            integration,
            rooms[integration.id],
            now,
            open_secret=open_secret,
            lease_margin_s=lease_margin_s,
        )
    return claimed


async def _fail_inactive(session: AsyncSession, integration_id: int, now: datetime) -> None:
    """An inactive integration receives nothing (issue 6): settle what was queued for it."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.webhook_integration_id == integration_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(status="failed", error="integration is disabled", next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def _claim_for(
    session: AsyncSession,
    integration: WebhookIntegration,
    room: ClaimRoom,
    now: datetime,
    *,
    open_secret: Callable[[bytes], str],
    lease_margin_s: float,
) -> list[Claimed]:
    rounds = math.ceil((room.held + room.room) / room.per_destination)
    lease_end = now + timedelta(seconds=integration.timeout_seconds * rounds + lease_margin_s)
    token = secrets.token_hex(16)
    due_ids = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.webhook_integration_id == integration.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(room.room)
        .with_for_update(skip_locked=True)  # PostgreSQL: rows another worker is claiming are skipped
    )
    rows = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(due_ids.scalar_subquery()))
        .values(
            attempt=WebhookDelivery.attempt + 1, claim_token=token, next_attempt_at=lease_end, updated_at=now
        )  # fmt: skip
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.event,
            WebhookDelivery.event_id,
            WebhookDelivery.body,
            WebhookDelivery.attempt,
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )
    secret = open_secret(integration.secret_ciphertext)  # once per destination and pass
    headers = dict(integration.headers)
    claimed = []
    for delivery_id, event, event_id, body, attempt in sorted(rows.all()):
        raw = body.encode("utf-8")
        request = SignedRequest(
            integration.id, integration.url, raw, signature(secret, raw), event, event_id, headers,
            integration.timeout_seconds,
        )  # fmt: skip
        claimed.append(Claimed(delivery_id, token, attempt, integration.retry_count, lease_end, request))
    return claimed


async def record_outcomes(
    session: AsyncSession, batch: Sequence[tuple[Claimed, datetime, AttemptOutcome]], now: datetime
) -> None:
    """Attempt log rows plus the new state of each delivery, each update guarded by its claim token:
    two statements (executemany) whatever the batch size."""
    if not batch:
        return
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
    connection = await session.connection()
    await connection.execute(_SETTLE, [_settle_params(item, outcome, now) for item, _, outcome in batch])


async def release(session: AsyncSession, unstarted: Sequence[Claimed], now: datetime) -> None:
    """Claims whose lease ran short before their turn came: due again now, the attempt not counted."""
    if not unstarted:
        return
    connection = await session.connection()
    await connection.execute(
        _RELEASE,
        [{"b_id": item.delivery_id, "b_token": item.claim_token, "b_now": now} for item in unstarted],
    )


_SETTLE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"), _DELIVERIES.c.claim_token == bindparam("b_token"))
    .values(
        claim_token=None,
        status=bindparam("b_status"),
        http_status=bindparam("b_http_status"),
        error=bindparam("b_error"),
        delivered_at=bindparam("b_delivered_at"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        updated_at=bindparam("b_now"),
    )  # fmt: skip
)

_RELEASE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"), _DELIVERIES.c.claim_token == bindparam("b_token"))
    .values(
        claim_token=None,
        attempt=_DELIVERIES.c.attempt - 1,
        next_attempt_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )  # fmt: skip
)


def _settle_params(item: Claimed, outcome: AttemptOutcome, now: datetime) -> dict[str, Any]:
    values = settled_values(item, outcome, now)
    return {
        "b_id": item.delivery_id, "b_token": item.claim_token, "b_status": values["status"],
        "b_http_status": outcome.http_status, "b_error": outcome.error,
        "b_delivered_at": values["delivered_at"], "b_next_attempt_at": values["next_attempt_at"],
        "b_now": now,
    }  # fmt: skip


def settled_values(item: Claimed, outcome: AttemptOutcome, now: datetime) -> dict[str, Any]:
    """The delivery's columns after this attempt: delivered, scheduled again, or failed for good."""
    common: dict[str, Any] = {
        "claim_token": None,
        "http_status": outcome.http_status,
        "updated_at": now,
        "error": outcome.error,
        "delivered_at": None,
    }
    if outcome.success:
        return {**common, "status": "delivered", "delivered_at": now, "next_attempt_at": None}
    if item.attempt > item.retry_count:  # the first attempt plus retry_count retries are spent
        return {**common, "status": "failed", "next_attempt_at": None}
    return {
        **common,
        "status": "pending",
        "next_attempt_at": now + timedelta(seconds=retry_delay_s(item.attempt)),
    }
