"""The steady state of one modem session: route URCs, poll, sweep, expire partial messages, send.

Theory of operation: one loop, the only caller of the driver while the session is ready, so commands stay
sequential. It waits for the earliest of: a URC, an outbox wake-up (a `queued` event for this SIM, or the
registry's periodic check finding a due message), the next poll (also the watchdog ping), sweep or
reassembly expiry, the time a queued message of this SIM is due, the port closing, or stop.
`+CMTI` bursts are coalesced into one read; a `+CMT`/`+CDS` PDU is committed before `AT+CNMA`; a boot URC
(`RDY`, `^BOOT`...) means the modem restarted under us and ends the session so it is initialised again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gatewayd.at import commands as at
from gatewayd.at.session import AtCommand, UnsolicitedResult
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.driver import CommandRejected, LinkLost, ModemDriver, ModemError
from gatewayd.modem.inbox import Inbox
from gatewayd.modem.outbox import Outbox
from gatewayd.services.gateway import GatewayRecorder
from gatewayd.sms.pdu import PduError, StatusReport, decode_status_report

log = logging.getLogger(__name__)

TIMEOUT_STREAK_LIMIT = 3  # consecutive timeouts that end a session (the recovery ladder takes over)
# Lines a modem prints when it (re)starts: SIM800 "RDY", Huawei "^BOOT"/"^SYSSTART" (vendor manuals).
BOOT_URC_NAMES = frozenset({"RDY", "^SYSSTART"})
# From this many +CMTI in one batch, one AT+CMGL listing beats an AT+CMGR round trip per slot (issue 3
# benchmark: 30 parts at 10-50 ms per command cost ~1.6 s read one by one, ~0.7 s listed).
BULK_READ_FROM = 2


class ModemRestarted(ModemError):
    """The modem printed its boot lines mid-session: its settings are gone, initialise it again."""


@dataclass(frozen=True)
class ServeIntervals:
    poll_s: float
    sweep_s: float
    expiry_s: float
    reassembly_timeout_s: float


class SessionWork:
    def __init__(
        self,
        driver: ModemDriver,
        inbox: Inbox,
        outbox: Outbox,
        *,
        profile: ModemProfile,
        recorder: GatewayRecorder,
        hosted_sim_id: int,
        urcs: asyncio.Queue[UnsolicitedResult],
        outbox_wake: asyncio.Event,
        stopping: asyncio.Event,
        intervals: ServeIntervals,
        poll: Callable[[], Awaitable[None]],
        count: Callable[[str], None],
    ) -> None:
        self._driver = driver
        self._inbox = inbox
        self._outbox = outbox
        self._profile = profile
        self._recorder = recorder
        self._sim = hosted_sim_id
        self._urcs = urcs
        self._wake = outbox_wake
        self._stopping = stopping
        self._intervals = intervals
        self._poll = poll
        self._count = count

    async def serve(self, closed: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        intervals = self._intervals
        now = loop.time()
        # At once: the sweep (what waited on the modem) and the outbox (what was queued before we served).
        due = {"poll": now, "sweep": now, "expiry": now, "outbox": now}
        while not self._stopping.is_set() and not closed.done():
            if self._driver.timeouts_in_a_row >= TIMEOUT_STREAK_LIMIT:
                raise ModemError(
                    AtCommand("(watchdog)"), f"{self._driver.timeouts_in_a_row} timeouts in a row"
                )
            now = loop.time()
            if now >= due["poll"]:
                await self._poll()
                due["poll"] = now + intervals.poll_s
            if now >= due["sweep"]:
                await self._inbox.sweep()
                due["sweep"] = now + intervals.sweep_s
            if now >= due["expiry"]:
                await self._recorder.expire_incomplete(self._sim, timeout_s=intervals.reassembly_timeout_s)
                due["expiry"] = now + intervals.expiry_s
            if now >= due["outbox"] or self._wake.is_set():
                self._wake.clear()
                due["outbox"] = now + await self._send_due()
            urcs = await self._next_urcs(min(due.values()) - loop.time(), closed)
            await self._handle(urcs)
        if closed.done():
            raise LinkLost(AtCommand("(port)"), "port closed")

    async def _send_due(self) -> float:
        """Send what is due; seconds until the outbox should look again by itself (infinite when nothing
        is queued: a `queued` event or the registry's periodic check wakes it then)."""
        wait = await self._outbox.seconds_until_due()
        if wait == 0.0:
            await self._outbox.send_due()
            wait = await self._outbox.seconds_until_due()
        if wait is None:
            return math.inf
        return max(wait, 0.05)

    async def _next_urcs(self, wait_s: float, closed: asyncio.Future[None]) -> list[UnsolicitedResult]:
        getter = asyncio.ensure_future(self._urcs.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {getter, stop, wake, closed}
            await asyncio.wait(waiters, timeout=max(wait_s, 0.0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()
            if not getter.done():
                getter.cancel()
        if getter.cancelled() or not getter.done():
            return []
        pending = [getter.result()]
        while not self._urcs.empty():  # coalesce a burst (+CMTI per part) into one batch
            pending.append(self._urcs.get_nowait())
        return pending

    async def _handle(self, urcs: list[UnsolicitedResult]) -> None:
        stored: list[int] = []
        reports: dict[str, list[int]] = {}
        for urc in urcs:
            if urc.name == "+CMTI":
                stored.append(at.parse_cmti(urc.line).index)
            elif urc.name == "+CDSI":
                indication = at.parse_cdsi(urc.line)
                reports.setdefault(indication.memory, []).append(indication.index)
            elif urc.name == "+CMT" and urc.pdu:
                await self._inbox.store_direct(urc.pdu)
                await self._acknowledge()
            elif urc.name == "+CDS" and urc.pdu:
                await self._status_report_pdu(urc.pdu)
                await self._acknowledge()
            elif urc.name in BOOT_URC_NAMES or urc.name in self._profile.boot_urcs:
                raise ModemRestarted(AtCommand("(urc)"), f"modem restarted: {urc.line}")
            else:
                self._count(f"urc{urc.name}")
        if len(set(stored)) >= BULK_READ_FROM:
            await self._inbox.sweep()
        elif stored:
            await self._inbox.read(stored)
        for memory, indexes in reports.items():
            await self._read_reports(memory, indexes)

    async def _acknowledge(self) -> None:
        # TS 27.005 §3.4.4: with AT+CSMS=1 a routed +CMT/+CDS must be acknowledged or the network resends.
        if self._profile.ack_direct:
            try:
                await self._driver.run("AT+CNMA", self._profile.timeouts.default_s)
            except CommandRejected as exc:
                log.info("%s: AT+CNMA refused: %s", self._driver, exc)

    async def _status_report_pdu(self, pdu: str) -> None:
        try:
            report = decode_status_report(pdu, with_smsc=True)
        except PduError as exc:
            log.warning("undecodable +CDS PDU dropped: %s", exc)
            return
        await self.apply_report(report)

    async def apply_report(self, report: StatusReport) -> None:
        await self._recorder.outbound.apply_status_report(self._sim, report.message_reference, report.status)

    async def _read_reports(self, memory: str, indexes: list[int]) -> None:
        """+CDSI names a slot of the status-report memory: select it, read and delete, select ours back."""
        timeout = self._profile.timeouts.default_s
        own = self._profile.message_storage[0]
        if memory.upper() != own.upper():
            await self._driver.run(f'AT+CPMS="{memory}"', timeout)
        try:
            await self._inbox.read(indexes)
        finally:
            if memory.upper() != own.upper():
                await self._driver.run(self._profile.storage_command, timeout)
