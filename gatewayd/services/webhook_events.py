"""The webhook transactional outbox: turns a message or lock change into delivery rows IN THE CALLER'S
TRANSACTION, one per matching active integration, so an event is stored if and only if its cause is.

Matching (ENDPOINTS.md, Events): an event on a SIM reaches an integration through an active mapping of
the team that has the SIM in the integration's organisation; `lock_required` mappings only while a
member of that team holds the SIM's lock (an expired lock row counts as absent). Never commits, never
sends: delivery/webhook_sender.py does that after the commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from sqlalchemy import Select, and_, exists, insert, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import column, table

from gatewayd.store.models import SimAssignment, TeamMembership
from gatewayd.store.models_webhooks import WebhookDelivery, WebhookIntegration, WebhookMapping
from gatewayd.store.types import UtcDateTime

MESSAGE_INBOUND = "message.inbound"
MESSAGE_DELIVERY = "message.delivery"
NUMBER_LOCKED: Final = "number.locked"
NUMBER_UNLOCKED: Final = "number.unlocked"
WEBHOOK_TEST = "webhook.test"

# The outbound statuses customers hear about as `message.delivery`: outcomes, not the internal
# queued/sending steps (a transient retry goes back to queued and says nothing until it settles).
DELIVERY_STATUSES = frozenset({"sent", "delivered", "failed"})

ALWAYS = "always"
LOCK_REQUIRED = "lock_required"
FORWARDING_MODES = (ALWAYS, LOCK_REQUIRED)

# The lock table as issue 5 defines it (models_locks.SimLock); described here as a bare table so the
# outbox depends on its columns only, not on the lock module.
_SIM_LOCKS = table(
    "sim_locks", column("hosted_sim_id"), column("user_id"), column("expires_at", UtcDateTime())
)


class InboundMessage(Protocol):
    """What the outbox reads from a stored inbound message (a `models.Message` row fits)."""

    @property
    def id(self) -> int: ...
    @property
    def hosted_sim_id(self) -> int | None: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def recipient(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def received_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def iso_utc(moment: datetime | None) -> str | None:
    """`2026-05-11T14:30:00Z`, as every timestamp of the published API."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(event: str, event_id: str, timestamp: datetime, data: Mapping[str, Any]) -> str:
    """The exact body POSTed on every attempt: `{event, event_id, timestamp, data}` (ENDPOINTS.md)."""
    document = {"event": event, "event_id": event_id, "timestamp": iso_utc(timestamp), "data": dict(data)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def new_event_id() -> str:
    return str(uuid.uuid4())


def _mapping_reaches_sim(sim_id: Any, now: datetime, lock_holder: int | None) -> Any:
    """The forwarding condition of a mapping for an event on `sim_id` (a value or a column).

    `lock_holder` None: lock_required mappings need a live lock held by a team member now.
    Otherwise (lock events) they need `lock_holder` to be a member of the mapped team.
    """
    if lock_holder is None:
        held_by_team: Any = exists(
            select(1)
            .select_from(_SIM_LOCKS.join(TeamMembership, TeamMembership.user_id == _SIM_LOCKS.c.user_id))
            .where(
                _SIM_LOCKS.c.hosted_sim_id == sim_id,
                _SIM_LOCKS.c.expires_at > now,
                TeamMembership.team_id == WebhookMapping.team_id,
            )
        )
    else:
        held_by_team = exists(
            select(1).where(
                TeamMembership.user_id == lock_holder, TeamMembership.team_id == WebhookMapping.team_id
            )
        )
    return (WebhookMapping.forwarding_mode == ALWAYS) | held_by_team


def _active_routes(*columns: Any) -> Select[Any]:
    """`columns` of every active integration reached through an active mapping of a SIM's team."""
    return (
        select(*columns)
        .join(WebhookMapping, WebhookMapping.webhook_integration_id == WebhookIntegration.id)
        .join(
            SimAssignment,
            and_(
                SimAssignment.team_id == WebhookMapping.team_id,
                SimAssignment.organization_id == WebhookIntegration.organization_id,
            ),
        )
        .where(WebhookIntegration.is_active == true(), WebhookMapping.is_active == true())
        .distinct()
    )


async def _matching_integrations(
    session: AsyncSession, hosted_sim_id: int, now: datetime, lock_holder: int | None
) -> list[int]:
    """Active integrations reached through an active mapping of the SIM's team, ordered by id."""
    rows = await session.scalars(
        _active_routes(WebhookIntegration.id)
        .where(
            SimAssignment.hosted_sim_id == hosted_sim_id,
            _mapping_reaches_sim(hosted_sim_id, now, lock_holder),
        )
        .order_by(WebhookIntegration.id)
    )
    return list(rows)


async def _message_matches_of_sims(
    session: AsyncSession, sim_ids: Collection[int], now: datetime
) -> dict[int, list[int]]:
    """`_matching_integrations(..., lock_holder=None)` for many SIMs in ONE query: SIM → ordered ids."""
    matched: dict[int, list[int]] = {sim_id: [] for sim_id in sim_ids}
    rows = await session.execute(
        _active_routes(SimAssignment.hosted_sim_id, WebhookIntegration.id)
        .where(
            SimAssignment.hosted_sim_id.in_(sorted(matched)),
            _mapping_reaches_sim(SimAssignment.hosted_sim_id, now, None),
        )
        .order_by(SimAssignment.hosted_sim_id, WebhookIntegration.id)
    )
    for sim_id, integration_id in rows:
        matched[sim_id].append(integration_id)
    return matched


class OutboxMatches:
    """The integrations a message event on each SIM reaches, looked up once per SIM and moment for ONE
    transaction (ingest commits up to 256 SMS from many modems at once: issue 3's profile showed one
    query per message). Create one per transaction and drop it at the end: a later transaction must look
    again, because locks, mappings and integrations change between transactions, never inside ingest's.
    Made by `outbox_batch`, it also holds the delivery rows back to write them in one statement.
    """

    def __init__(self, expected_sims: Iterable[int] = (), *, hold_rows: bool = False) -> None:
        self._expected = set(expected_sims)
        self._known: dict[tuple[int, datetime], list[int]] = {}
        self._held_rows: list[dict[str, Any]] | None = [] if hold_rows else None  # None: write at once

    async def for_message(self, session: AsyncSession, hosted_sim_id: int, now: datetime) -> list[int]:
        """Integration ids (ordered) that a message event on the SIM at `now` reaches; the first miss
        looks up every expected SIM not known yet for that moment in one query."""
        found = self._known.get((hosted_sim_id, now))
        if found is None:
            wanted = {hosted_sim_id} | {s for s in self._expected if (s, now) not in self._known}
            for sim_id, ids in (await _message_matches_of_sims(session, wanted, now)).items():
                self._known[(sim_id, now)] = ids
            found = self._known[(hosted_sim_id, now)]
        return found

    async def write(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if self._held_rows is None:
            await _insert(session, rows)
        else:
            self._held_rows += rows

    async def write_held(self, session: AsyncSession) -> None:
        """Insert the rows held back so far, in the order they were recorded (one statement)."""
        if self._held_rows:
            rows, self._held_rows = self._held_rows, []
            await _insert(session, rows)


@asynccontextmanager
async def outbox_batch(session: AsyncSession, expected_sims: Iterable[int]) -> AsyncIterator[OutboxMatches]:
    """OutboxMatches for the block's transaction whose delivery rows are written together when the block
    ends without an error (still inside the transaction: they commit with the messages or not at all)."""
    matches = OutboxMatches(expected_sims, hold_rows=True)
    yield matches
    await matches.write_held(session)


def _delivery_rows(
    integration_ids: list[int], event: str, data: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for integration_id in integration_ids:
        event_id = new_event_id()
        rows.append({
            "webhook_integration_id": integration_id, "event": event, "event_id": event_id,
            "body": envelope(event, event_id, now, data), "status": "pending", "attempt": 0,
            "next_attempt_at": now, "created_at": now, "updated_at": now,
        })  # fmt: skip
    return rows


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(WebhookDelivery), rows)


async def _write(
    session: AsyncSession, integration_ids: list[int], event: str, data: Mapping[str, Any], now: datetime
) -> int:
    rows = _delivery_rows(integration_ids, event, data, now)
    await _insert(session, rows)
    return len(rows)


async def record_message_inbound(
    session: AsyncSession,
    message: InboundMessage,
    *,
    now: datetime | None = None,
    matches: OutboxMatches | None = None,
) -> int:
    """One `message.inbound` delivery per matching integration; returns how many were written.

    `now` defaults to the message's `created_at` (the same clock that stored it). `matches`: the
    transaction's lookup cache (many messages in one transaction); None looks up afresh.
    """
    if message.hosted_sim_id is None:
        return 0
    at = now or message.created_at
    matches = matches or OutboxMatches()
    matching = await matches.for_message(session, message.hosted_sim_id, at)
    if not matching:
        return 0
    data = {
        "message_id": message.id, "hosted_sim_id": message.hosted_sim_id, "from": message.sender,
        "to": message.recipient, "body": message.text, "received_at": iso_utc(message.received_at),
    }  # fmt: skip
    rows = _delivery_rows(matching, MESSAGE_INBOUND, data, at)
    await matches.write(session, rows)
    return len(rows)


async def record_message_delivery(
    session: AsyncSession,
    *,
    message_id: int,
    hosted_sim_id: int | None,
    recipient: str | None,
    status: str,
    error: str | None,
    now: datetime,
) -> int:
    """One `message.delivery` (an outbound status change) per matching integration; statuses outside
    DELIVERY_STATUSES write nothing, so callers may call it on every change."""
    if hosted_sim_id is None or status not in DELIVERY_STATUSES:
        return 0
    data = {
        "message_id": message_id,
        "hosted_sim_id": hosted_sim_id,
        "to": recipient,
        "status": status,
        "error": error,
        "changed_at": iso_utc(now),
    }
    matching = await OutboxMatches().for_message(session, hosted_sim_id, now)
    return await _write(session, matching, MESSAGE_DELIVERY, data, now)


async def record_lock_event(
    session: AsyncSession,
    *,
    event: Literal["number.locked", "number.unlocked"],
    hosted_sim_id: int,
    lock_id: int,
    user_id: int,
    user_name: str | None,
    expires_at: datetime | None,
    reason: str | None,
    now: datetime,
) -> int:
    """`number.locked` / `number.unlocked`; a lock_required mapping gets it when the holder is a member
    of the mapped team (the lock it describes is that team's)."""
    if event not in (NUMBER_LOCKED, NUMBER_UNLOCKED):
        raise ValueError(f"record_lock_event: not a lock event: {event!r}")
    data: dict[str, Any] = {
        "hosted_sim_id": hosted_sim_id,
        "lock_id": lock_id,
        "user_id": user_id,
        "user_name": user_name,
    }
    if event == NUMBER_LOCKED:
        data["expires_at"] = iso_utc(expires_at)
    else:
        data["reason"] = reason
    matching = await _matching_integrations(session, hosted_sim_id, now, user_id)
    return await _write(session, matching, event, data, now)


class EndedLockFacts(Protocol):
    """A lock just deleted (repositories.locks.EndedLock, a frozen dataclass, fits)."""

    @property
    def id(self) -> int: ...
    @property
    def hosted_sim_id(self) -> int: ...
    @property
    def user_id(self) -> int: ...


class TakenLock(EndedLockFacts, Protocol):
    """A lock just created (repositories.locks.LockRow fits)."""

    @property
    def user_name(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...


async def record_lock_taken(session: AsyncSession, lock: TakenLock, now: datetime) -> int:
    """`number.locked` for a new lock, in the transaction that created it."""
    return await record_lock_event(
        session, event=NUMBER_LOCKED, hosted_sim_id=lock.hosted_sim_id, lock_id=lock.id,
        user_id=lock.user_id, user_name=lock.user_name, expires_at=lock.expires_at, reason=None, now=now,
    )  # fmt: skip


async def record_locks_ended(
    session: AsyncSession,
    ended: Iterable[EndedLockFacts],
    *,
    reason: Literal["released", "expired"],
    now: datetime,
    user_name: str | None = None,
) -> int:
    """`number.unlocked` for each lock deleted in this transaction (released, or expired and swept)."""
    written = 0
    for lock in ended:
        written += await record_lock_event(
            session, event=NUMBER_UNLOCKED, hosted_sim_id=lock.hosted_sim_id, lock_id=lock.id,
            user_id=lock.user_id, user_name=user_name, expires_at=None, reason=reason, now=now,
        )  # fmt: skip
    return written


async def record_inbound_row(
    session: AsyncSession, message_id: int, row: Mapping[str, Any], matches: OutboxMatches | None = None
) -> int:
    """`record_message_inbound` for a message inserted as a column dict (the single-SMS path)."""
    return await record_message_inbound(session, _StoredInbound(
        id=message_id, hosted_sim_id=row.get("hosted_sim_id"), sender=row.get("sender"),
        recipient=row.get("recipient"), text=row.get("text"), received_at=row.get("received_at"),
        created_at=row["created_at"]), matches=matches)  # fmt: skip


@dataclass(frozen=True)
class _StoredInbound:
    id: int
    hosted_sim_id: int | None
    sender: str | None
    recipient: str | None
    text: str | None
    received_at: datetime | None
    created_at: datetime
