"""The outbound SMS queue: enqueue, claim, record each sent part's TP-MR, apply status reports.

Use cases over the `messages` table (direction "outbound") and `outbound_parts`; no modem I/O here (the
outbox in gatewayd/modem/outbox.py drives the modem). Each call is one transaction; `MessageStatusChanged` is
published only after it commits. A claim is one guarded UPDATE (`... AND status = 'queued'`), so two
claimers never both win the same row.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import NotFound, ValidationFailed
from gatewayd.events import EventBus, MessageStatusChanged
from gatewayd.services.webhook_events import record_message_delivery
from gatewayd.sms.segments import choose_encoding, segment_count
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim, Message
from gatewayd.store.models_engine import OutboundPart

MAX_TEXT_CHARS = 1600
MAX_SEGMENTS = 10
# ITU-T E.164: a country code that does not start with 0, at most 15 digits in all.
E164_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    hosted_sim_id: int
    recipient: str
    text: str
    segments: int
    encoding: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class ClaimedMessage:
    """A message this sender now owns; `sent_sequences` are parts a previous, interrupted try sent."""

    id: int
    hosted_sim_id: int
    recipient: str
    text: str
    attempts: int
    sent_sequences: frozenset[int]


def check_outbound(recipient: str, text: str) -> dict[str, list[str]]:
    """Validation errors by field (`to`, `text`); empty when the message can be queued."""
    errors: dict[str, list[str]] = {}
    if not E164_NUMBER.match(recipient):
        errors["to"] = [f"must be an E.164 number like +4915112345678, got {recipient!r}"]
    if not 1 <= len(text) <= MAX_TEXT_CHARS:
        errors["text"] = [f"must be 1..{MAX_TEXT_CHARS} characters, got {len(text)}"]
    elif (segments := segment_count(text)) > MAX_SEGMENTS:
        errors["text"] = [f"needs {segments} SMS segments, at most {MAX_SEGMENTS} are allowed"]
    return errors


async def queue_outbound(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    bus: EventBus | None,
    *,
    hosted_sim_id: int,
    recipient: str,
    text: str,
) -> QueuedMessage:
    """Validate and insert one queued outbound message; publish `queued` after the commit.

    ValidationFailed (field → reasons) for a bad number or text, or a SIM that cannot send from a modem;
    NotFound for an unknown SIM. The gateway owning the SIM picks the row up (woken by the event, or by
    its periodic check if the event is lost).
    """
    errors = check_outbound(recipient, text)
    if errors:
        raise ValidationFailed(errors)
    now = clock.now()
    async with write_transaction(sessions) as session:
        sim = await session.get(HostedSim, hosted_sim_id)
        if sim is None:
            raise NotFound(f"hosted SIM {hosted_sim_id} does not exist")
        if sim.type != "physical":
            raise ValidationFailed({"hosted_sim": [f"a {sim.type} SIM cannot send through the gateway"]})
        message = Message(
            hosted_sim_id=hosted_sim_id,
            direction="outbound",
            sender=sim.phone_number,
            recipient=recipient,
            text=text,
            encoding=choose_encoding(text).value,
            status="queued",
            segments=segment_count(text),
            send_attempts=0,
            created_at=now,
        )
        session.add(message)
        await session.flush()
        queued = QueuedMessage(
            message.id, hosted_sim_id, recipient, text, message.segments, message.encoding, "queued", now
        )
    _publish(bus, queued.id, hosted_sim_id, "queued", None)
    return queued


def _publish(
    bus: EventBus | None, message_id: int, sim_id: int | None, status: str, error: str | None
) -> None:
    if bus is not None:
        bus.publish(MessageStatusChanged(message_id, sim_id, status, error))


class OutboundService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, bus: EventBus | None
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus

    async def queue(self, *, hosted_sim_id: int, recipient: str, text: str) -> QueuedMessage:
        return await queue_outbound(
            self._sessions,
            self._clock,
            self._bus,
            hosted_sim_id=hosted_sim_id,
            recipient=recipient,
            text=text,
        )

    async def requeue_interrupted(self, hosted_sim_id: int) -> list[int]:
        """Put back `sending` rows of this SIM (a crash or unplug cut their send short). Only the gateway
        owning the SIM calls this, when it starts serving it, so no live sender is robbed."""
        async with write_transaction(self._sessions) as session:
            result = await session.execute(
                update(Message)
                .where(
                    Message.hosted_sim_id == hosted_sim_id,
                    Message.direction == "outbound",
                    Message.status == "sending",
                )
                .values(status="queued", claimed_at=None)
                .returning(Message.id)
            )
            ids = list(result.scalars())
        for message_id in ids:
            _publish(self._bus, message_id, hosted_sim_id, "queued", None)
        return ids

    async def claim_next(self, hosted_sim_id: int) -> ClaimedMessage | None:
        """Claim the oldest due queued message of this SIM (status → sending), or None."""
        now = self._clock.now()
        due = (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now)
        async with write_transaction(self._sessions) as session:
            candidate = await session.scalar(
                select(Message.id)
                .where(
                    Message.hosted_sim_id == hosted_sim_id,
                    Message.direction == "outbound",
                    Message.status == "queued",
                    due,
                )
                .order_by(Message.id)
                .limit(1)
            )
            if candidate is None:
                return None
            result = await session.execute(
                update(Message)
                .where(Message.id == candidate, Message.status == "queued")
                .values(status="sending", claimed_at=now, send_attempts=Message.send_attempts + 1)
                .returning(Message.recipient, Message.text, Message.send_attempts)
            )
            row = result.one_or_none()
            if row is None:  # another claimer won between our SELECT and UPDATE
                return None
            sent = await session.scalars(
                select(OutboundPart.sequence).where(OutboundPart.message_id == candidate)
            )
            claimed = ClaimedMessage(
                candidate,
                hosted_sim_id,
                row.recipient or "",
                row.text or "",
                row.send_attempts,
                frozenset(sent),
            )
        _publish(self._bus, candidate, hosted_sim_id, "sending", None)
        return claimed

    async def sims_with_due(self, hosted_sim_ids: Collection[int]) -> set[int]:
        """Which of these SIMs have a queued outbound message that may be tried now: the outbox safety
        net, one read for a whole gateway (ix_messages_outbound_queue) instead of one per SIM."""
        if not hosted_sim_ids:
            return set()
        now = self._clock.now()
        due = (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now)
        async with read_transaction(self._sessions) as session:
            rows = await session.scalars(
                select(Message.hosted_sim_id)
                .where(
                    Message.hosted_sim_id.in_(sorted(hosted_sim_ids)),
                    Message.status == "queued",
                    Message.direction == "outbound",
                    due,
                )
                .distinct()
            )
            return {sim_id for sim_id in rows if sim_id is not None}

    async def next_due_at(self, hosted_sim_id: int) -> datetime | None:
        """When the earliest queued message of this SIM may be tried (None: nothing queued)."""
        async with read_transaction(self._sessions) as session:
            rows = await session.execute(
                select(Message.next_attempt_at).where(
                    Message.hosted_sim_id == hosted_sim_id,
                    Message.direction == "outbound",
                    Message.status == "queued",
                )
            )
            times = [row[0] for row in rows]
        if not times:
            return None
        return self._clock.now() if None in times else min(t for t in times if t is not None)

    async def part_sent(
        self, message_id: int, hosted_sim_id: int, *, sequence: int, total: int, message_reference: int
    ) -> None:
        """Record a part the modem accepted with its TP-MR (committed before the next part is sent)."""
        async with write_transaction(self._sessions) as session:
            session.add(
                OutboundPart(
                    message_id=message_id,
                    hosted_sim_id=hosted_sim_id,
                    sequence=sequence,
                    total=total,
                    message_reference=message_reference,
                    status="sent",
                    sent_at=self._clock.now(),
                )
            )

    async def mark_sent(self, message_id: int, hosted_sim_id: int) -> None:
        await self._set_status(message_id, hosted_sim_id, "sent", None, sent_at=self._clock.now())

    async def retry_later(self, message_id: int, hosted_sim_id: int, error: str, delay_s: float) -> None:
        """A transient failure: back to `queued`, not before `delay_s`, with the error kept for people."""
        not_before = self._clock.now() + timedelta(seconds=delay_s)
        await self._set_status(message_id, hosted_sim_id, "queued", error, next_attempt_at=not_before)

    async def fail(self, message_id: int, hosted_sim_id: int, error: str) -> None:
        await self._set_status(message_id, hosted_sim_id, "failed", error)

    async def _set_status(
        self, message_id: int, hosted_sim_id: int, status: str, error: str | None, **values: object
    ) -> None:
        async with write_transaction(self._sessions) as session:
            result = await session.execute(
                update(Message)
                .where(Message.id == message_id, Message.status == "sending")
                .values(status=status, error=error, **values)
                .returning(Message.id, Message.recipient)
            )
            row = result.one_or_none()
            changed = row is not None
            if row is not None:  # webhook outbox, same transaction (issue 6)
                await record_message_delivery(
                    session, message_id=message_id, hosted_sim_id=hosted_sim_id, recipient=row.recipient,
                    status=status, error=error, now=self._clock.now())  # fmt: skip
        if changed:  # else a status report already moved it on (delivered before we marked it sent)
            _publish(self._bus, message_id, hosted_sim_id, status, error)

    async def apply_status_report(
        self, hosted_sim_id: int, message_reference: int, tp_status: int
    ) -> str | None:
        """Match a status report to the newest part sent by this SIM with that TP-MR; returns the message's
        new status when it changed. TS 23.040 §9.2.3.15: 0x00..0x1F delivered, 0x20..0x3F still trying
        (ignored), 0x40 and above failed. A multipart message is delivered only when every part is."""
        if 0x20 <= tp_status <= 0x3F:
            return None
        part_status = "delivered" if tp_status <= 0x1F else "failed"
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            part = await session.scalar(
                select(OutboundPart)
                .where(
                    OutboundPart.hosted_sim_id == hosted_sim_id,
                    OutboundPart.message_reference == message_reference,
                    OutboundPart.status == "sent",
                )
                .order_by(OutboundPart.id.desc())
                .limit(1)
            )
            if part is None:
                return None
            part.status, part.report_status, part.reported_at = part_status, tp_status, now
            await session.flush()
            new_status, error = await _message_outcome(session, part.message_id, part.total)
            if new_status is None:
                return None
            changed = await session.execute(
                update(Message)
                .where(Message.id == part.message_id, Message.status.in_(("sending", "sent")))
                .values(status=new_status, error=error)
                .returning(Message.id, Message.recipient)
            )
            updated = changed.one_or_none()
            if updated is None:
                return None
            message_id = part.message_id
            await record_message_delivery(  # webhook outbox, same transaction (issue 6)
                session, message_id=message_id, hosted_sim_id=hosted_sim_id, recipient=updated.recipient,
                status=new_status, error=error, now=now)  # fmt: skip
        _publish(self._bus, message_id, hosted_sim_id, new_status, error)
        return new_status

    async def parts_sent_since(self, hosted_sim_id: int, since: datetime) -> int:
        """Parts this SIM sent since `since`, for hourly and daily quotas (survives restarts)."""
        async with read_transaction(self._sessions) as session:
            count = await session.scalar(
                select(func.count(OutboundPart.id)).where(
                    OutboundPart.hosted_sim_id == hosted_sim_id, OutboundPart.sent_at >= since
                )
            )
        return int(count or 0)


async def _message_outcome(
    session: AsyncSession, message_id: int, total: int
) -> tuple[str | None, str | None]:
    rows = await session.execute(
        select(OutboundPart.sequence, OutboundPart.status, OutboundPart.report_status).where(
            OutboundPart.message_id == message_id
        )
    )
    by_sequence = {row.sequence: (row.status, row.report_status) for row in rows}
    failed = [(seq, code) for seq, (status, code) in by_sequence.items() if status == "failed"]
    if failed:
        sequence, code = min(failed)
        return "failed", f"status report for part {sequence}/{total}: TP-ST 0x{code or 0:02X} (not delivered)"
    delivered = sum(1 for status, _ in by_sequence.values() if status == "delivered")
    if delivered >= total:
        return "delivered", None
    return None, None
