"""Moves received SMS from modem storage into the store: read, commit, and only then delete.

Theory of operation (invariants 1 and 2 of ARCHITECTURE.md):
- A batch (one `AT+CMGL` listing, or the `AT+CMGR` reads of the indexes some `+CMTI`s named) is decoded
  and committed in ONE transaction; only the indexes of that committed batch are then deleted, one
  `AT+CMGD=<index>` each, never a bulk delete flag that could touch a slot we have not committed.
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

from gatewayd.at.commands import parse_cmgl, parse_cmgr
from gatewayd.at.session import AtCommand
from gatewayd.modem.driver import CommandRejected, ModemDriver
from gatewayd.services.gateway import ReceivedSms
from gatewayd.sms.identity import message_identity
from gatewayd.sms.pdu import Deliver, PduError, StatusReport, decode

log = logging.getLogger(__name__)

# 3GPP TS 27.005 §3.2.5: 321 "invalid memory index" — the slot is already empty.
CMS_INVALID_INDEX = 321

StoreBatch = Callable[[int, Sequence[ReceivedSms]], Awaitable[list[int]]]


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
        on_status_report: Callable[[StatusReport], None] = lambda report: None,
        name: str = "modem",
    ) -> None:
        self._driver = driver
        self._store_batch = store_batch
        self._hosted_sim_id = hosted_sim_id
        self._sim_key = sim_key
        self._list_timeout_s = list_timeout_s
        self._command_timeout_s = command_timeout_s
        self._on_status_report = on_status_report
        self._name = name
        self._lock = asyncio.Lock()
        self._undecodable: set[tuple[int, str]] = set()

    async def sweep(self) -> InboxResult:
        """Read every message in storage (`AT+CMGL=4`), commit, delete."""
        async with self._lock:
            completed = await self._driver.execute(AtCommand("AT+CMGL=4", timeout_s=self._list_timeout_s))
            listed = [StoredPdu(item.index, item.pdu) for item in parse_cmgl(completed.lines)]
            return await self._commit_then_delete(listed)

    async def read(self, indexes: Iterable[int]) -> InboxResult:
        """Read the named slots (`AT+CMGR`), commit, delete. Empty slots are skipped."""
        async with self._lock:
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
            return await self._commit_then_delete(found)

    async def _commit_then_delete(self, listed: Sequence[StoredPdu]) -> InboxResult:
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
            self._on_status_report(report)
        deleted = 0
        for index in deletable:
            try:
                await self._driver.execute(AtCommand(f"AT+CMGD={index}", timeout_s=self._command_timeout_s))
            except CommandRejected as exc:
                if exc.cms != CMS_INVALID_INDEX:
                    raise
            deleted += 1
        return InboxResult(read=len(listed), stored=stored, deleted=deleted, undecodable=undecodable)
