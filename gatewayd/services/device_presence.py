"""Whether BYOS phones are there: heartbeats mark a device online, the offline sweep marks silent ones
offline (announced as `device.status`) and emails the owner once per outage, retrying a failed send.

Counts what it did in `counts` (read by the metrics at scrape time). Events are published after commit.
No HTTP here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import ValidationFailed
from gatewayd.events import DeviceStatusChanged, EventBus
from gatewayd.services.device_records import hosted_sims, own_device, status_event
from gatewayd.services.device_views import ACTIVE, ByosOptions
from gatewayd.services.notifications import OfflineNotice, OfflineNotifier
from gatewayd.services.views import Principal
from gatewayd.store.engine import write_transaction
from gatewayd.store.models import HostedSim, User
from gatewayd.store.models_byos import ByosDevice, ByosSimCard

log = logging.getLogger(__name__)

# The keys of `DevicePresence.counts`.
HEARTBEATS, CAME_ONLINE, WENT_OFFLINE = "heartbeats", "came_online", "went_offline"
EMAILS_SENT, EMAILS_FAILED, SWEEPS = "offline_emails_sent", "offline_emails_failed", "sweeps"


@dataclass(frozen=True)
class SimSignal:
    sim_card_id: int
    signal_strength: int


class DevicePresence:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        bus: EventBus,
        options: ByosOptions,
        notifier: OfflineNotifier | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self.options = options
        self._notifier = notifier
        self.counts: Counter[str] = Counter()

    async def heartbeat(
        self,
        principal: Principal,
        device_id: int,
        *,
        battery_level: int | None,
        signal_strength: int | None,
        is_in_doze_mode: bool,
        sim_signals: Sequence[SimSignal],
    ) -> int:
        """Record health, mark the device online (announced when it was offline); returns next interval."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            device = await own_device(session, principal, device_id)
            came_online = not device.is_online
            device.is_online, device.is_in_doze_mode, device.last_seen_at = True, is_in_doze_mode, now
            device.offline_alerted_at, device.updated_at = None, now
            if battery_level is not None:
                device.battery_level = battery_level
            await _record_signals(session, device, now, signal_strength, sim_signals)
            announcement = status_event(device, await hosted_sims(session, device.id))
        self.counts[HEARTBEATS] += 1
        if came_online:
            self.counts[CAME_ONLINE] += 1
            self._bus.publish(announcement)
        return self.options.heartbeat_interval_s

    async def sweep_offline(self) -> list[int]:
        """Mark devices offline whose last heartbeat is older than their timeout (announced), and email the
        owner once when a device has missed `alert_after_missed` timeouts. Returns devices gone offline."""
        now = self._clock.now()
        gone: list[DeviceStatusChanged] = []
        notices: list[tuple[int, OfflineNotice]] = []
        async with write_transaction(self._sessions) as session:
            rows = await session.scalars(
                select(ByosDevice).where(ByosDevice.last_seen_at.is_not(None), ByosDevice.status == ACTIVE)
            )
            for device in rows:
                assert device.last_seen_at is not None
                timeout = self.options.timeout_s(device.is_in_doze_mode)
                silent_s = (now - device.last_seen_at).total_seconds()
                if device.is_online and silent_s >= timeout:
                    gone.append(await _mark_offline(session, device, now))
                if (
                    device.offline_alerted_at is None
                    and self._notifier is not None
                    and silent_s >= timeout * self.options.alert_after_missed
                ):
                    device.offline_alerted_at = now
                    notices.append((device.id, await _notice(session, device, silent_s)))
        self.counts[SWEEPS] += 1
        self.counts[WENT_OFFLINE] += len(gone)
        for announcement in gone:
            self._bus.publish(announcement)
        for device_id, notice in notices:
            await self._send_notice(device_id, notice)
        return [announcement.device_id for announcement in gone]

    async def sweep_every(self, interval_s: float) -> None:
        """Run `sweep_offline` forever, every `interval_s`; the runtime owns and cancels this task."""
        while True:
            try:
                await self.sweep_offline()
            except Exception:  # a task boundary: a failed round must not end the sweeps
                log.exception("BYOS offline sweep failed; next round in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    async def _send_notice(self, device_id: int, notice: OfflineNotice) -> None:
        assert self._notifier is not None
        if await self._notifier.device_offline(notice):
            self.counts[EMAILS_SENT] += 1
            return
        self.counts[EMAILS_FAILED] += 1
        # Not sent: let the next sweep try again rather than never telling the owner.
        async with write_transaction(self._sessions) as session:
            await session.execute(
                update(ByosDevice).where(ByosDevice.id == device_id).values(offline_alerted_at=None)
            )


async def _record_signals(
    session: AsyncSession,
    device: ByosDevice,
    now: datetime,
    signal_strength: int | None,
    sim_signals: Sequence[SimSignal],
) -> None:
    """Per-SIM signal onto the cards; last-seen (and `active` when the device is) onto their hosted SIMs."""
    cards = {
        card.id: card
        for card in await session.scalars(
            select(ByosSimCard).where(ByosSimCard.device_id == device.id).order_by(ByosSimCard.sim_slot)
        )
    }
    signals = {each.sim_card_id: each.signal_strength for each in sim_signals}
    if signal_strength is not None and cards and not signals:
        signals[next(iter(cards))] = signal_strength  # backward compatible: the first SIM card
    unknown = sorted(set(signals) - set(cards))
    if unknown:
        raise ValidationFailed({"sim_cards": [f"Unknown SIM card id(s) {unknown} for this device."]})
    for card_id, value in signals.items():
        cards[card_id].signal_strength = value
    for card in cards.values():
        if card.hosted_sim_id is not None and card.status == ACTIVE:
            values: dict[str, Any] = {
                "last_seen_at": now,
                "signal_strength": card.signal_strength,
                "updated_at": now,
            }
            if device.status == ACTIVE:
                values["status"] = ACTIVE
            await session.execute(
                update(HostedSim).where(HostedSim.id == card.hosted_sim_id).values(**values)
            )


async def _mark_offline(session: AsyncSession, device: ByosDevice, now: datetime) -> DeviceStatusChanged:
    device.is_online, device.updated_at = False, now
    sim_ids = await hosted_sims(session, device.id)
    if sim_ids:
        await session.execute(
            update(HostedSim).where(HostedSim.id.in_(sim_ids)).values(status="offline", updated_at=now)
        )
    return status_event(device, sim_ids)


async def _notice(session: AsyncSession, device: ByosDevice, silent_s: float) -> OfflineNotice:
    owner = await session.get_one(User, device.user_id)
    return OfflineNotice(
        email=owner.email,
        user_name=owner.name,
        device_id=device.id,
        device_name=device.device_name or device.device_model,
        silent_s=int(silent_s),
        last_seen_at=device.last_seen_at,
    )
