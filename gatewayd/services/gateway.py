"""What the modem tasks record: modems and SIMs seen, their status, and received SMS with reassembly.

Each call is one short write transaction and is safe under concurrent calls from many modem tasks:
upserts and inserts are arbitrated by unique indexes (IMEI, ICCID, identity_key), so two tasks racing on
the same row produce one row and no error. Parts of a concatenated SMS are persisted in `inbound_parts`
(a restart loses nothing) until their group is complete or expired; `finalize_message` is the ONE place a
message row becomes final, so anything that must commit with it (webhook outbox rows) hooks in there.
`MessageReceived` is published once per message, after the commit.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.events import EventBus, MessageReceived
from gatewayd.services.outbound import OutboundService
from gatewayd.services.views import ModemView
from gatewayd.services.webhook_events import (
    OutboxMatches,
    outbox_batch,
    record_inbound_row,
    record_message_inbound,
)
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim, Message, Modem
from gatewayd.store.models_engine import InboundPart, ModemHealth
from gatewayd.store.repositories import modems as modem_queries
from gatewayd.store.repositories import sims as sim_queries
from gatewayd.store.repositories.dialect import upsert_insert


@dataclass(frozen=True)
class ReceivedSms:
    """One SMS read from a modem, ready to store; `concat` is (reference, total, sequence) of a part."""

    identity_key: str
    sender: str
    text: str | None
    data: bytes | None
    encoding: str
    received_at: datetime
    concat: tuple[int, int, int] | None
    user_data: bytes = b""  # the part's user data octets (UCS-2 parts are joined as octets, see below)


DEFAULT_REASSEMBLY_TIMEOUT_S = 600.0  # Gammu's default (field-lessons.md #1)
GroupKey = tuple[str, int, int]  # sender, reference, total (within one SIM)
# Rows per multi-row INSERT: 15 columns x 100 stays far below SQLite's 32,766 bound parameters.
ROWS_PER_INSERT = 100
# A group commit takes batches until this many SMS: enough to share a commit, small enough that the
# first modems can delete (and the network refill their storage) while the rest still wait.
ITEMS_PER_GROUP = 256


def country_of(phone_number: str | None) -> str | None:
    """ISO 3166 alpha-2 of an international number (`+447...` → GB); None when it cannot be told."""
    if not phone_number:
        return None
    candidate = phone_number if phone_number.startswith("+") else "+" + phone_number.lstrip("0")
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    # Exact region for valid numbers; else the country code's main region (test ranges, new blocks).
    region: str | None = phonenumbers.region_code_for_number(parsed)
    if (not region or region == "ZZ") and parsed.country_code is not None:
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return region if region and region != "ZZ" else None


def _check_signal(signal_strength: int | None) -> None:
    if signal_strength is not None and not 0 <= signal_strength <= 100:
        raise ValueError(f"signal_strength must be 0..100 percent, got {signal_strength}")


class GatewayRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        bus: EventBus | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.bus = bus  # modem tasks subscribe to wake their outbox on `queued`
        self.outbound = OutboundService(sessions, clock, bus)
        self._receive_queue: list[_PendingBatch] = []  # batches waiting for the next group commit
        self._receive_turn = asyncio.Lock()
        self._no_pending_parts: set[int] = set()  # SIMs whose last expiry check left no part pending

    async def modem_seen(
        self,
        *,
        imei: str,
        port: str | None,
        usb_path: str | None,
        manufacturer: str | None,
        model: str | None,
        revision: str | None,
    ) -> int:
        """Upsert the modem by IMEI (it may come back on another port); returns its id."""
        async with write_transaction(self._sessions) as session:
            return await modem_queries.upsert_modem(
                session,
                imei=imei,
                port=port,
                usb_path=usb_path,
                manufacturer=manufacturer,
                model=model,
                revision=revision,
                now=self._clock.now(),
            )

    async def sim_seen(
        self, *, modem_id: int, iccid: str, imsi: str | None, phone_number: str | None, operator: str | None,
        slot: str | None = None,
    ) -> int:
        """Upsert the SIM by ICCID and link it to the modem; the SIM keeps its id when it moves.

        A SIM that was in this modem before (a swap) is marked offline. `slot` is the bank map label of
        the modem's USB port (None when unmapped); it follows the SIM to its new slot.
        """
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            sim_id = await sim_queries.upsert_physical_sim(
                session,
                iccid=iccid,
                imsi=imsi,
                phone_number=phone_number,
                country=country_of(phone_number),
                provider=operator,
                now=now,
            )
            replaced = await modem_queries.link_sim(session, modem_id, sim_id, now)
            if replaced is not None:
                await sim_queries.mark_offline(session, replaced, now)
            await session.execute(update(HostedSim).where(HostedSim.id == sim_id).values(slot=slot))
        return sim_id

    async def modem_status(
        self,
        modem_id: int,
        *,
        state: str,
        signal_strength: int | None,
        registration: str | None,
        operator: str | None,
        storage_used: int | None,
        storage_total: int | None,
    ) -> None:
        """Record the modem's latest status and mirror signal/operator onto the SIM it holds."""
        _check_signal(signal_strength)
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            result = await session.execute(
                update(Modem)
                .where(Modem.id == modem_id)
                .values(
                    state=state,
                    signal_strength=signal_strength,
                    registration=registration,
                    operator=operator,
                    storage_used=storage_used,
                    storage_total=storage_total,
                    last_seen_at=now,
                    updated_at=now,
                )
                .returning(Modem.hosted_sim_id)
            )
            sim_ids = list(result.scalars())
            if not sim_ids:
                raise LookupError(f"modem_status for unknown modem id {modem_id}")
            if sim_ids[0] is not None:
                values: dict[str, object] = {
                    "signal_strength": signal_strength,
                    "last_seen_at": now,
                    "updated_at": now,
                }
                if operator:
                    values["provider"] = operator
                await session.execute(update(HostedSim).where(HostedSim.id == sim_ids[0]).values(**values))

    async def modem_gone(self, modem_id: int, *, state: str) -> None:
        """The modem stopped answering or was unplugged: set its state and take its SIM offline."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            result = await session.execute(
                update(Modem)
                .where(Modem.id == modem_id)
                .values(state=state, updated_at=now)
                .returning(Modem.hosted_sim_id)
            )
            sim_ids = list(result.scalars())
            if sim_ids and sim_ids[0] is not None:
                await sim_queries.mark_offline(session, sim_ids[0], now)

    async def store_received(self, hosted_sim_id: int, items: Sequence[ReceivedSms]) -> list[int]:
        """Store a batch durably; returns the ids of messages that became final.

        A single SMS becomes a message at once; a part is kept in `inbound_parts` and its group becomes one
        message when every part is there. An identity already stored (message or part) is skipped, so a
        re-read is a no-op. The caller may delete the SMS from the modem once this returns (durable commit).

        Group commit: batches that arrive from several modems while a commit runs are committed together
        in the next transaction, in turn. One writer at a time never waits in SQLite's sleeping busy
        handler, and one commit serves many modems (issue 3 benchmark: 8 modems' reads queued ~0.5 s
        each behind the busy handler before this). A group that fails is retried batch by batch, so one
        bad batch fails only its own caller.
        """
        if not items:
            return []
        batch = _PendingBatch(hosted_sim_id, items, asyncio.get_running_loop().create_future())
        self._receive_queue.append(batch)
        async with self._receive_turn:
            if not batch.done.done():
                group = self._next_group()
                try:
                    await self._commit_group(group)
                finally:  # interrupted (cancelled): the batches not committed wait for the next turn
                    self._receive_queue[:0] = [b for b in group if not b.done.done() and b is not batch]
        return batch.done.result()

    def _next_group(self) -> list[_PendingBatch]:
        """Queued batches, oldest first, up to ITEMS_PER_GROUP SMS (always at least one batch)."""
        taken, count = 0, 0
        while taken < len(self._receive_queue) and (taken == 0 or count < ITEMS_PER_GROUP):
            count += len(self._receive_queue[taken].items)
            taken += 1
        group, self._receive_queue = self._receive_queue[:taken], self._receive_queue[taken:]
        return group

    async def _commit_group(self, group: Sequence[_PendingBatch]) -> None:
        try:
            results = await self._store_batches(group)
        except Exception as failed:
            if len(group) == 1:
                group[0].done.set_exception(failed)
                return
            for batch in group:  # find the culprit: each batch alone
                await self._commit_group([batch])
            return
        for batch, (ids, events) in zip(group, results, strict=True):
            self._announce(events)
            batch.done.set_result(ids)

    async def _store_batches(
        self, group: Sequence[_PendingBatch]
    ) -> list[tuple[list[int], list[MessageReceived]]]:
        now = self._clock.now()
        results: list[tuple[list[int], list[MessageReceived]]] = []
        async with write_transaction(self._sessions) as session, outbox_batch(
            session, (batch.hosted_sim_id for batch in group)
        ) as matches:  # webhook matches: one query for the group's SIMs; delivery rows: one INSERT
            for batch in group:
                sim = await session.get(HostedSim, batch.hosted_sim_id)
                if sim is None:
                    raise LookupError(f"store_received for unknown hosted SIM id {batch.hosted_sim_id}")
                if any(item.concat is not None for item in batch.items):
                    self._no_pending_parts.discard(sim.id)  # before the commit: a check may run after it
                final = await _store_items(session, sim, batch.items, now, matches)
                results.append(([event.message_id for event in final], final))
        return results

    async def expire_incomplete(
        self, hosted_sim_id: int | None = None, *, timeout_s: float = DEFAULT_REASSEMBLY_TIMEOUT_S
    ) -> list[int]:
        """Turn groups whose first part is older than the reassembly timeout into ONE message each,
        marked `incomplete` (the parts that did arrive, in order). Returns the new message ids.

        A SIM known to hold no pending parts is skipped without touching the store (every modem checks
        every 30 s: 128 idle modems spent ~1 % of a core on empty write transactions); storing a part
        makes the SIM "maybe pending" again."""
        if hosted_sim_id is not None and hosted_sim_id in self._no_pending_parts:
            return []
        now = self._clock.now()
        cutoff = now - timedelta(seconds=timeout_s)
        final: list[MessageReceived] = []
        async with write_transaction(self._sessions) as session:
            matches = OutboxMatches()
            query = (
                select(
                    InboundPart.hosted_sim_id, InboundPart.sender, InboundPart.reference, InboundPart.total
                )
                .where(InboundPart.message_id.is_(None))
                .group_by(
                    InboundPart.hosted_sim_id, InboundPart.sender, InboundPart.reference, InboundPart.total
                )
                .having(func.min(InboundPart.first_seen_at) <= cutoff)
            )
            if hosted_sim_id is not None:
                query = query.where(InboundPart.hosted_sim_id == hosted_sim_id)
            for sim_id, sender, reference, total in list(await session.execute(query)):
                sim = await session.get_one(HostedSim, sim_id)
                parts = _one_per_sequence(await _pending_parts(session, sim_id, (sender, reference, total)))
                message = await finalize_message(session, sim, parts, now, incomplete=True, matches=matches)
                final.append(_received(message.id, sim.id, _columns(message)))
            if hosted_sim_id is not None and not await _has_pending_parts(session, hosted_sim_id):
                self._no_pending_parts.add(hosted_sim_id)
        self._announce(final)
        return [event.message_id for event in final]

    async def pending_part_groups(self, hosted_sim_id: int) -> int:
        async with read_transaction(self._sessions) as session:
            count = await session.scalar(
                select(func.count(func.distinct(InboundPart.reference))).where(
                    InboundPart.hosted_sim_id == hosted_sim_id, InboundPart.message_id.is_(None)
                )
            )
        return int(count or 0)

    async def recovery_step(self, modem_id: int, step: str, reason: str) -> None:
        """Count one recovery-ladder step (reinit, reset, reopen, usb_reset, quarantine) for the modem."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            health = await session.get(ModemHealth, modem_id)
            if health is None:
                health = ModemHealth(
                    modem_id=modem_id, reinit=0, reset=0, reopen=0, usb_reset=0, quarantine=0, updated_at=now
                )
                session.add(health)
            setattr(health, step, getattr(health, step) + 1)
            health.last_reason, health.updated_at = f"{step}: {reason}"[:1000], now

    async def pin_state(self, modem_id: int, state: str) -> None:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            health = await session.get(ModemHealth, modem_id)
            if health is None:
                health = ModemHealth(
                    modem_id=modem_id, reinit=0, reset=0, reopen=0, usb_reset=0, quarantine=0, updated_at=now
                )
                session.add(health)
            health.pin_state, health.updated_at = state[:32], now

    async def modem_health(self) -> dict[int, ModemHealth]:
        async with read_transaction(self._sessions) as session:
            rows = await session.scalars(select(ModemHealth))
            return {row.modem_id: row for row in rows}

    async def list_modems(self) -> list[ModemView]:
        async with read_transaction(self._sessions) as session:
            rows = await modem_queries.modem_with_iccid(session)
            health = {row.modem_id: row for row in await session.scalars(select(ModemHealth))}
        return [_with_health(_modem_view(modem, iccid), health.get(modem.id)) for modem, iccid in rows]

    def _announce(self, events: Sequence[MessageReceived]) -> None:
        if self.bus is not None:
            for event in events:
                self.bus.publish(event)


@dataclass
class _PendingBatch:
    hosted_sim_id: int
    items: Sequence[ReceivedSms]
    done: asyncio.Future[list[int]]


async def _store_items(
    session: AsyncSession, sim: HostedSim, items: Sequence[ReceivedSms], now: datetime, matches: OutboxMatches
) -> list[MessageReceived]:
    """One modem's batch inside the caller's transaction; the events of messages that became final."""
    final: list[MessageReceived] = []
    # One lock order for every batch: on PostgreSQL two batches holding the same keys in
    # opposite orders would otherwise deadlock on the unique index.
    ordered = sorted(items, key=lambda each: each.identity_key)
    singles = {item.identity_key: _inbound_row(sim, item, now) for item in ordered if item.concat is None}
    for new_id, key in await _insert_new(session, Message, list(singles.values())):
        row = singles[key]
        final.append(_received(new_id, sim.id, row))
        await record_inbound_row(session, new_id, row, matches)  # webhook outbox, same transaction
    parts = {item.identity_key: item for item in ordered if item.concat is not None}
    new_parts = await _insert_new(session, InboundPart, [_part_row(sim.id, p, now) for p in parts.values()])
    touched = {_group_of(parts[key]) for _, key in new_parts}
    for group in sorted(touched):
        chosen = _one_per_sequence(await _pending_parts(session, sim.id, group))
        if len(chosen) == group[2]:
            message = await finalize_message(session, sim, chosen, now, incomplete=False, matches=matches)
            final.append(_received(message.id, sim.id, _columns(message)))
    return final


async def _insert_new(
    session: AsyncSession, table: type[Message] | type[InboundPart], rows: Sequence[dict[str, object]]
) -> list[tuple[int, str]]:
    """Insert rows whose identity_key is not stored yet, many per statement; (id, identity_key) of the new.

    ON CONFLICT DO NOTHING lets the unique index arbitrate, also against a concurrent transaction.
    """
    inserted: list[tuple[int, str]] = []
    for start in range(0, len(rows), ROWS_PER_INSERT):
        statement = (
            (await upsert_insert(session, table))
            .values(list(rows[start : start + ROWS_PER_INSERT]))
            .on_conflict_do_nothing(index_elements=[table.identity_key])
            .returning(table.id, table.identity_key)
        )
        inserted += [(row.id, row.identity_key) for row in await session.execute(statement)]
    return inserted


async def _has_pending_parts(session: AsyncSession, hosted_sim_id: int) -> bool:
    query = select(InboundPart.id).where(
        InboundPart.hosted_sim_id == hosted_sim_id, InboundPart.message_id.is_(None)
    )
    return (await session.scalar(query.limit(1))) is not None


def _group_of(item: ReceivedSms) -> GroupKey:
    assert item.concat is not None
    reference, total, _ = item.concat
    return (item.sender, reference, total)

def _inbound_row(sim: HostedSim, item: ReceivedSms, now: datetime) -> dict[str, object]:
    reference, total, sequence = item.concat if item.concat else (None, None, None)
    return {
        "hosted_sim_id": sim.id,
        "direction": "inbound",
        "sender": item.sender,
        "recipient": sim.phone_number,
        "text": item.text,
        "data": item.data,
        "encoding": item.encoding,
        "received_at": item.received_at,
        "status": "received",
        "segments": total or 1,
        "identity_key": item.identity_key,
        "concat_reference": reference,
        "concat_total": total,
        "concat_sequence": sequence,
        "created_at": now,
    }


def _columns(message: Message) -> dict[str, object]:
    return {
        "sender": message.sender,
        "recipient": message.recipient,
        "text": message.text,
        "received_at": message.received_at,
        "created_at": message.created_at,
    }


def _received(message_id: int, sim_id: int, row: dict[str, object]) -> MessageReceived:
    received_at = row.get("received_at") or row["created_at"]
    assert isinstance(received_at, datetime)
    recipient, text = row.get("recipient"), row.get("text")
    return MessageReceived(
        message_id=message_id,
        hosted_sim_id=sim_id,
        sender=str(row.get("sender") or ""),
        recipient=recipient if isinstance(recipient, str) else None,
        text=text if isinstance(text, str) else None,
        received_at=received_at,
    )


async def finalize_message(
    session: AsyncSession,
    sim: HostedSim,
    parts: Sequence[InboundPart],
    now: datetime,
    *,
    incomplete: bool,
    matches: OutboxMatches | None = None,
) -> Message:
    """Make ONE message row out of the parts of a concatenated SMS, in the caller's transaction.

    The single point where a reassembled message becomes final: whatever must commit atomically with it
    (webhook outbox rows, issue 6) is added here. The parts keep pointing at it, so re-reads stay no-ops.
    """
    first = parts[0]
    identity = hashlib.sha256("\x00".join(sorted(p.identity_key for p in parts)).encode()).hexdigest()
    message = Message(
        hosted_sim_id=sim.id,
        direction="inbound",
        sender=first.sender,
        recipient=sim.phone_number,
        text=joined_text(parts),
        data=b"".join(p.data for p in parts) if first.encoding == "8bit" else None,
        encoding=first.encoding,
        received_at=first.sc_timestamp,
        status="incomplete" if incomplete else "received",
        segments=first.total,
        identity_key="concat:" + identity,
        concat_reference=first.reference,
        concat_total=first.total,
        concat_sequence=None,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await session.execute(
        update(InboundPart).where(InboundPart.id.in_([p.id for p in parts])).values(message_id=message.id)
    )
    await record_message_inbound(session, message, matches=matches)  # webhook outbox, same transaction
    return message


def joined_text(parts: Sequence[InboundPart]) -> str | None:
    """The text of parts in sequence order; None for 8-bit data. UCS-2 parts are joined as octets first,
    because some phones split a surrogate pair between two parts (field-lessons.md #9)."""
    if not parts or parts[0].encoding == "8bit":
        return None
    if all(part.encoding == "ucs2" for part in parts):
        return b"".join(part.data for part in parts).decode("utf-16-be", errors="replace")
    return "".join(part.text or "" for part in parts)


def _part_row(sim_id: int, item: ReceivedSms, now: datetime) -> dict[str, object]:
    assert item.concat is not None
    reference, total, sequence = item.concat
    return {
        "hosted_sim_id": sim_id,
        "identity_key": item.identity_key,
        "sender": item.sender,
        "reference": reference,
        "total": total,
        "sequence": sequence,
        "encoding": item.encoding,
        "text": item.text,
        "data": item.user_data or item.data or b"",
        "sc_timestamp": item.received_at,
        "first_seen_at": now,
    }


async def _pending_parts(session: AsyncSession, sim_id: int, group: GroupKey) -> list[InboundPart]:
    sender, reference, total = group
    rows = await session.scalars(
        select(InboundPart)
        .where(
            InboundPart.hosted_sim_id == sim_id,
            InboundPart.sender == sender,
            InboundPart.reference == reference,
            InboundPart.total == total,
            InboundPart.message_id.is_(None),
        )
        .order_by(InboundPart.sequence, InboundPart.id)
    )
    return list(rows)


def _one_per_sequence(parts: Sequence[InboundPart]) -> list[InboundPart]:
    """The first-stored part of each sequence number (a carrier reusing a reference gives two)."""
    chosen: dict[int, InboundPart] = {}
    for part in parts:
        chosen.setdefault(part.sequence, part)
    return [chosen[number] for number in sorted(chosen)]


RECOVERY_STEPS = ("reinit", "reset", "reopen", "usb_reset", "quarantine")  # modem/recovery.py STEPS


def _with_health(view: ModemView, health: ModemHealth | None) -> ModemView:
    if health is None:
        return view
    steps = ", ".join(f"{step} {getattr(health, step)}" for step in RECOVERY_STEPS if getattr(health, step))
    if steps and health.last_reason:
        steps += f" (last: {health.last_reason})"
    return replace(view, pin_state=health.pin_state, recovery=steps)


def _modem_view(modem: Modem, iccid: str | None) -> ModemView:
    return ModemView(
        id=modem.id,
        imei=modem.imei,
        port=modem.port,
        usb_path=modem.usb_path,
        manufacturer=modem.manufacturer,
        model=modem.model,
        state=modem.state,
        signal_strength=modem.signal_strength,
        registration=modem.registration,
        operator=modem.operator,
        storage_used=modem.storage_used,
        storage_total=modem.storage_total,
        hosted_sim_id=modem.hosted_sim_id,
        iccid=iccid,
        last_seen_at=modem.last_seen_at,
    )
