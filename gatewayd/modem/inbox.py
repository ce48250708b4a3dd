"""Moves received SMS from modem storage into the store: read, commit, and only then delete.

Theory of operation (invariants 1 and 2 of ARCHITECTURE.md):
- A batch (one `AT+CMGL` listing, or the `AT+CMGR` reads of the indexes some `+CMTI`s named) is decoded
  and committed in ONE transaction; only the indexes of that committed batch are then deleted, by index
  (`AT+CMGD=<i>`, several chained on one line, V.250 §5.2.1), never a bulk delete flag that could touch a
  slot we have not committed.
- A direct `+CMT` PDU is committed before it is acknowledged with `AT+CNMA` (when the profile needs it).
- Every operation holds the inbox lock from read to delete: a slot freed by our delete can be refilled
  by the network at once, so a second reader must never act on what it read before that delete.
- Identity (SIM + TPDU, which includes the SC timestamp) makes a re-read after a crash between commit and
  delete a no-op: the store skips it, and the slot is deleted this time.
- A PDU that does not decode is left on the modem (nothing is destroyed that we could not store) and
  reported once per slot; a status report is handed to `on_status_report` and then deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC

from gatewayd.at.codes import describe_cms
from gatewayd.at.commands import parse_cmgl, parse_cmgr
from gatewayd.at.session import AtCommand
from gatewayd.clock import Clock
from gatewayd.modem.driver import CommandRejected, ModemDriver
from gatewayd.modem.observer import ModemObserver, NullObserver
from gatewayd.services.gateway import ReceivedSms
from gatewayd.sms.identity import message_identity
from gatewayd.sms.pdu import Deliver, PduError, StatusReport, decode

log = logging.getLogger(__name__)

# 3GPP TS 27.005 §3.2.5: 321 "invalid memory index" — the slot is already empty.
CMS_INVALID_INDEX = 321

# V.250 §5.2.1 allows several commands on one line; 10 short AT+CMGD fit any modem's line buffer
# (SIM800 manual §1.4.1: 556 characters; Quectel EC25: 256 after AT).
DELETES_PER_LINE = 10

StoreBatch = Callable[[int, Sequence[ReceivedSms]], Awaitable[list[int]]]
StatusReportSink = Callable[[StatusReport], Awaitable[None]]


async def _ignore_report(report: StatusReport) -> None:
    return None


@dataclass(frozen=True)
class StoredPdu:
    index: int
    pdu: str


@dataclass(frozen=True)
class InboxResult:
    read: int  # PDUs read from storage
    stored: list[int]  # ids of new message rows
    deleted: int
    undecodable: int


def received_from(deliver: Deliver, sim_key: str) -> ReceivedSms:
    concat = deliver.concat
    return ReceivedSms(
        identity_key=message_identity(sim_key, deliver.tpdu_hex),
        sender=deliver.sender,
        text=deliver.text,
        data=deliver.data if deliver.text is None else None,
        encoding=deliver.encoding.value,
        received_at=deliver.sc_timestamp.astimezone(UTC),
        concat=(concat.reference, concat.total, concat.sequence) if concat else None,
        user_data=deliver.data,
    )


class Inbox:
    def __init__(
        self,
        driver: ModemDriver,
        store_batch: StoreBatch,
        *,
        hosted_sim_id: int,
        sim_key: str,
        list_timeout_s: float,
        command_timeout_s: float,
        on_status_report: StatusReportSink = _ignore_report,
        name: str = "modem",
        clock: Clock | None = None,
        observer: ModemObserver | None = None,
        chain_deletes: bool = True,
    ) -> None:
        self._driver = driver
        self._store_batch = store_batch
        self._hosted_sim_id = hosted_sim_id
        self._sim_key = sim_key
        self._list_timeout_s = list_timeout_s
        self._command_timeout_s = command_timeout_s
        self._on_status_report = on_status_report
        self._name = name
        self._clock = clock
        self._observer = observer or NullObserver()
        self._chain_deletes = chain_deletes
        self._lock = asyncio.Lock()
        self._undecodable: set[tuple[int, str]] = set()

    async def store_direct(self, pdu: str) -> InboxResult:
        """A `+CMT` PDU routed to us without storage: commit it (the caller acknowledges afterwards)."""
        async with self._lock:
            started = self._started()
            try:
                decoded = decode(pdu, with_smsc=True)
            except PduError as exc:
                log.warning("%s: undecodable +CMT PDU dropped: %s", self._name, exc)
                return InboxResult(read=1, stored=[], deleted=0, undecodable=1)
            if isinstance(decoded, StatusReport):
                await self._on_status_report(decoded)
                return InboxResult(read=1, stored=[], deleted=0, undecodable=0)
            stored = await self._store_batch(self._hosted_sim_id, [received_from(decoded, self._sim_key)])
            self._report_custody(started, 1)
            return InboxResult(read=1, stored=stored, deleted=0, undecodable=0)

    def _started(self) -> float:
        return self._clock.monotonic() if self._clock is not None else 0.0

    def _report_custody(self, started: float, count: int) -> None:
        if self._clock is not None and count:
            elapsed = self._clock.monotonic() - started
            self._observer.sms_stored(self._name, self._hosted_sim_id, [elapsed] * count)

    async def sweep(self) -> InboxResult:
        """Read every message in storage (`AT+CMGL=4`), commit, delete."""
        async with self._lock:
            started = self._started()
            completed = await self._driver.execute(AtCommand("AT+CMGL=4", timeout_s=self._list_timeout_s))
            listed = [StoredPdu(item.index, item.pdu) for item in parse_cmgl(completed.lines)]
            return await self._commit_then_delete(listed, started)

    async def read(self, indexes: Iterable[int]) -> InboxResult:
        """Read the named slots (`AT+CMGR`), commit, delete. Empty slots are skipped."""
        async with self._lock:
            started = self._started()
            found: list[StoredPdu] = []
            for index in sorted(set(indexes)):
                try:
                    completed = await self._driver.execute(
                        AtCommand(f"AT+CMGR={index}", timeout_s=self._command_timeout_s)
                    )
                except CommandRejected as exc:
                    if exc.cms == CMS_INVALID_INDEX:
                        continue
                    raise
                message = parse_cmgr(completed.lines)
                if message is not None:
                    found.append(StoredPdu(index, message.pdu))
            return await self._commit_then_delete(found, started)

    async def _commit_then_delete(self, listed: Sequence[StoredPdu], started: float) -> InboxResult:
        batch: list[ReceivedSms] = []
        deletable: list[int] = []
        reports: list[StatusReport] = []
        undecodable = 0
        for item in listed:
            try:
                decoded = decode(item.pdu, with_smsc=True)
            except PduError as exc:
                undecodable += 1
                if (item.index, item.pdu) not in self._undecodable:
                    self._undecodable.add((item.index, item.pdu))
                    log.warning(
                        "%s: slot %d holds an undecodable PDU, left on the modem: %s",
                        self._name,
                        item.index,
                        exc,
                    )
                continue
            if isinstance(decoded, StatusReport):
                reports.append(decoded)
            else:
                batch.append(received_from(decoded, self._sim_key))
            deletable.append(item.index)
        stored = await self._store_batch(self._hosted_sim_id, batch) if batch else []
        # The batch is committed: from here on, deleting its slots cannot lose anything.
        for report in reports:
            await self._on_status_report(report)
        deleted = await self._delete(deletable)
        self._report_custody(started, len(batch))
        return InboxResult(read=len(listed), stored=stored, deleted=deleted, undecodable=undecodable)

    async def _delete(self, indexes: Sequence[int]) -> int:
        """Delete exactly these committed slots: chained on one line, one by one if a chain is refused."""
        step = DELETES_PER_LINE if self._chain_deletes else 1
        for start in range(0, len(indexes), step):
            chunk = indexes[start : start + step]
            line = "AT" + ";".join(f"+CMGD={index}" for index in chunk)
            try:
                await self._driver.execute(AtCommand(line, timeout_s=self._command_timeout_s))
                continue
            except CommandRejected as exc:
                if len(chunk) == 1 and exc.cms == CMS_INVALID_INDEX:
                    continue
                if len(chunk) == 1:
                    raise
                # A chain stops at its first error (V.250 §5.2.1): the rest one at a time.
                log.info("%s: chained delete refused (%s); deleting one by one", self._name, exc)
            for index in chunk:
                try:
                    await self._driver.execute(
                        AtCommand(f"AT+CMGD={index}", timeout_s=self._command_timeout_s)
                    )
                except CommandRejected as exc:
                    if exc.cms != CMS_INVALID_INDEX:
                        raise
        return len(indexes)


def describe_rejection(exc: CommandRejected) -> str:
    """`+CMS ERROR: 500` → `+CMS ERROR 500 (Unknown error)`: the code and its meaning for people."""
    if exc.cms is not None:
        return f"+CMS ERROR {exc.cms} ({describe_cms(exc.cms)})"
    return exc.failure.final
