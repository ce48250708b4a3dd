"""Sends the queued SMS of one SIM through its modem: claim → AT+CMGS per part (PDU mode) → TP-MR recorded.

Theory of operation: the supervisor calls `send_due()` between other work, so a send never races another
command on the port. A message is claimed (status `sending`) in one guarded UPDATE, encoded with our codec
(GSM-7 or UCS-2 chosen by the text, split on character boundaries, status report requested), and each part
the modem accepts is committed with its TP-MR before the next is sent, so a restart resumes after the last
recorded part. Transient `+CMS ERROR`s go back to the queue with exponential backoff; permanent ones (and
a message that exhausts its tries) fail with the code and its meaning. The per-SIM policy (minimum
interval plus jitter, hourly and daily part quotas, field-lessons.md #14) decides when the next send may go.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from gatewayd.at.codes import SendFailureKind, classify_send_failure
from gatewayd.at.commands import AtParseError
from gatewayd.at.sms_commands import build_cmgs, parse_cmgs
from gatewayd.clock import Clock
from gatewayd.events import EventBus, MessageStatusChanged
from gatewayd.modem.driver import CommandRejected, LinkLost, ModemDriver, ModemError
from gatewayd.modem.inbox import describe_rejection
from gatewayd.modem.observer import ModemObserver, NullObserver
from gatewayd.services.outbound import ClaimedMessage, OutboundService
from gatewayd.sms.pdu import encode_submit

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
RETRY_BASE_S = 15.0
RETRY_MAX_S = 1800.0
QUOTA_RECHECK_S = 60.0
RESTART_PAUSE_S = 1.0  # before the outbox wake-ups start again after a failure


@dataclass(frozen=True)
class SendPolicy:
    """Per-SIM pacing: at least `min_interval_s` (+ up to `jitter_s`) between messages; part quotas."""

    min_interval_s: float = 0.0
    jitter_s: float = 0.0
    hourly_quota: int | None = None
    daily_quota: int | None = None


def retry_delay_s(attempts: int) -> float:
    """15 s, 30 s, 60 s ... capped at 30 min: the backoff after the `attempts`-th failed try."""
    return float(min(RETRY_BASE_S * 2.0 ** max(attempts - 1, 0), RETRY_MAX_S))


class Outbox:
    def __init__(
        self,
        driver: ModemDriver,
        outbound: OutboundService,
        *,
        hosted_sim_id: int,
        clock: Clock,
        policy: SendPolicy,
        cmgs_timeout_s: float,
        name: str = "modem",
        observer: ModemObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._driver = driver
        self._outbound = outbound
        self._sim = hosted_sim_id
        self._clock = clock
        self._policy = policy
        self._cmgs_timeout_s = cmgs_timeout_s
        self._name = name
        self._observer = observer or NullObserver()
        self._rng = rng or random.Random()
        self._not_before = 0.0  # monotonic: the policy's earliest next send

    async def seconds_until_due(self) -> float | None:
        """How long until `send_due` could send (0: now); None when nothing is queued for this SIM."""
        due_at = await self._outbound.next_due_at(self._sim)
        if due_at is None:
            return None
        row_wait = (due_at - self._clock.now()).total_seconds()
        policy_wait = self._not_before - self._clock.monotonic()
        return max(row_wait, policy_wait, 0.0)

    async def send_due(self) -> int:
        """Send queued messages while the policy allows; returns how many were handed to the network.

        Raises the driver's CommandTimeout or LinkLost after putting the message back in the queue, so the
        supervisor's recovery takes over; nothing else escapes.
        """
        sent = 0
        while self._clock.monotonic() >= self._not_before:
            if await self._quota_exhausted():
                self._not_before = self._clock.monotonic() + QUOTA_RECHECK_S
                break
            claimed = await self._outbound.claim_next(self._sim)
            if claimed is None:
                break
            if await self._send(claimed):
                sent += 1
            pause = self._policy.min_interval_s + self._rng.uniform(0.0, self._policy.jitter_s)
            self._not_before = self._clock.monotonic() + pause
        return sent

    async def _quota_exhausted(self) -> bool:
        now = self._clock.now()
        for quota, window in (
            (self._policy.hourly_quota, timedelta(hours=1)),
            (self._policy.daily_quota, timedelta(days=1)),
        ):
            if quota is not None and await self._outbound.parts_sent_since(self._sim, now - window) >= quota:
                log.info("%s: send quota of %d parts per %s reached", self._name, quota, window)
                return True
        return False

    async def _send(self, claimed: ClaimedMessage) -> bool:
        try:
            parts = encode_submit(
                claimed.recipient, claimed.text, concat_reference=claimed.id % 256, status_report=True
            )
        except ValueError as exc:
            await self._outbound.fail(claimed.id, self._sim, f"cannot encode: {exc}")
            self._observer.sms_sent(self._name, self._sim, "failed")
            return False
        for part in parts:
            if part.sequence in claimed.sent_sequences:
                continue  # sent by an interrupted earlier try: never twice
            try:
                completed = await self._driver.execute(build_cmgs(part.pdu_hex, self._cmgs_timeout_s))
                reference = parse_cmgs(completed.lines).mr
            except CommandRejected as exc:
                await self._rejected(claimed, exc)
                return False
            except AtParseError as exc:
                await self._retry(claimed, f"unreadable +CMGS answer: {exc}")
                return False
            except (LinkLost, ModemError) as exc:
                await self._retry(claimed, f"modem did not confirm part {part.sequence}: {exc}")
                raise
            await self._outbound.part_sent(
                claimed.id, self._sim, sequence=part.sequence, total=part.total, message_reference=reference
            )
        await self._outbound.mark_sent(claimed.id, self._sim)
        self._observer.sms_sent(self._name, self._sim, "sent")
        return True

    async def _rejected(self, claimed: ClaimedMessage, exc: CommandRejected) -> None:
        reason = describe_rejection(exc)
        if classify_send_failure(exc.cms) is SendFailureKind.PERMANENT:
            await self._outbound.fail(claimed.id, self._sim, reason)
            self._observer.sms_sent(self._name, self._sim, "failed")
            return
        await self._retry(claimed, reason)

    async def _retry(self, claimed: ClaimedMessage, reason: str) -> None:
        if claimed.attempts >= MAX_SEND_ATTEMPTS:
            await self._outbound.fail(
                claimed.id, self._sim, f"{reason}; gave up after {claimed.attempts} tries"
            )
            self._observer.sms_sent(self._name, self._sim, "failed")
            return
        delay = retry_delay_s(claimed.attempts)
        log.info("%s: message %d will be retried in %.0f s: %s", self._name, claimed.id, delay, reason)
        await self._outbound.retry_later(claimed.id, self._sim, reason, delay)
        self._observer.sms_sent(self._name, self._sim, "retry")


class OutboxWakeRoutes:
    """Hosted SIM id → the outbox wake event of the supervisor serving that SIM now.

    Supervisors attach while a session is ready and detach when it ends. One bus listener (`listen`) wakes
    only the owner of a `queued` event, so an event costs one dict lookup, not one task per modem. Under it,
    the safety net (`check_every`): every `outbox_check_s` ONE read finds the attached SIMs with a due
    queued message (an event lost, a retry come due) and wakes those; an idle bank does one read per
    period, not one per SIM. Both run in `run`, owned by the registry (or by a supervisor driven alone).
    """

    def __init__(self) -> None:
        self._wakes: dict[int, asyncio.Event] = {}

    def attach(self, hosted_sim_id: int, wake: asyncio.Event) -> None:
        self._wakes[hosted_sim_id] = wake

    def detach(self, hosted_sim_id: int, wake: asyncio.Event) -> None:
        """Forget the route unless another supervisor took the SIM over since (a moved SIM)."""
        if self._wakes.get(hosted_sim_id) is wake:
            del self._wakes[hosted_sim_id]

    def wake(self, hosted_sim_id: int) -> bool:
        """Wake the outbox serving `hosted_sim_id`; False when no supervisor here serves it."""
        wake = self._wakes.get(hosted_sim_id)
        if wake is None:
            return False
        wake.set()
        return True

    async def run(self, outbound: OutboundService, check_s: float, bus: EventBus | None) -> None:
        """Route `queued` events (when there is a bus) and run the periodic check, until cancelled."""
        while True:
            try:
                async with asyncio.TaskGroup() as group:
                    if bus is not None:
                        group.create_task(self.listen(bus), name="outbox wakes")
                    group.create_task(self.check_every(outbound, check_s), name="outbox check")
            except Exception:  # task boundary: the safety net must outlive a broken subscription
                log.exception("outbox wake-ups failed; starting them again")
                await asyncio.sleep(RESTART_PAUSE_S)  # pacing a crash loop, not waiting for anything

    async def check(self, outbound: OutboundService) -> set[int]:
        """Wake the outbox of every attached SIM that has a due queued message; returns those woken."""
        due = await outbound.sims_with_due(list(self._wakes))
        return {sim_id for sim_id in due if self.wake(sim_id)}

    async def check_every(self, outbound: OutboundService, check_s: float) -> None:
        """`check` every `check_s` until cancelled. A supervisor looks at its outbox when it starts
        serving, so the first check can wait a period."""
        while True:
            await asyncio.sleep(check_s)  # the safety net's cadence, not waiting for something
            try:
                await self.check(outbound)
            except Exception:  # task boundary: a busy or lost database must not end the safety net
                log.exception("outbox check failed; next one in %.0f s", check_s)

    async def listen(self, bus: EventBus) -> None:
        """Route every `queued` status change until cancelled (`check_every` covers lost events)."""
        subscription = bus.subscribe()
        try:
            async for event in subscription:
                if not isinstance(event, MessageStatusChanged) or event.status != "queued":
                    continue
                if event.hosted_sim_id is not None:
                    self.wake(event.hosted_sim_id)
        finally:
            subscription.close()
