"""BYOS phones: registration with pending SIM cards, verification by code (the Twilio webhook), heartbeats,
SMS submission through the modem ingest, and the offline sweep that announces status and emails once.

A device is bound to the OAuth token family that registered it: only that family may act as the device
(heartbeat, messages, SIM cards, config); the rest of the organisation sees it but cannot impersonate it.
Events are published after commit. No HTTP here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Forbidden, NotFound, ValidationFailed
from gatewayd.events import DeviceStatusChanged, EventBus
from gatewayd.services.device_views import (
    ByosOptions,
    DeviceView,
    PendingSimCardView,
    device_view,
    pending_view,
    sim_card_view,
)
from gatewayd.services.gateway import GatewayRecorder, ReceivedSms, country_of
from gatewayd.services.notifications import OfflineNotice, OfflineNotifier
from gatewayd.services.views import Page, Principal
from gatewayd.sms.gsm7 import is_gsm7
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim, Message, Organization, SimAssignment, TeamMembership, User
from gatewayd.store.models_byos import ByosDevice, ByosSimCard, OAuthToken

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: the user may type the code by hand.
VERIFICATION_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACTIVE, DISABLED, REVOKED, PENDING_VERIFICATION = "active", "disabled", "revoked", "pending_verification"
DEVICE_STATUSES = (ACTIVE, DISABLED, REVOKED, PENDING_VERIFICATION)


def new_verification_code() -> str:
    return "SR-" + "".join(secrets.choice(VERIFICATION_ALPHABET) for _ in range(4))


@dataclass(frozen=True)
class SimSignal:
    sim_card_id: int
    signal_strength: int


class DeviceService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        bus: EventBus,
        *,
        gateway: GatewayRecorder,
        options: ByosOptions,
        notifier: OfflineNotifier | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self._gateway = gateway
        self.options = options
        self._notifier = notifier

    def now(self) -> datetime:
        return self._clock.now()

    # --- reading ----------------------------------------------------------------------------------------

    async def list(
        self, principal: Principal, *, status: str | None, page: int, per_page: int
    ) -> Page[DeviceView]:
        async with read_transaction(self._sessions) as session:
            query = select(ByosDevice).where(ByosDevice.organization_id == principal.organization_id)
            if status is not None:
                query = query.where(ByosDevice.status == status)
            total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = list(
                await session.scalars(
                    query.order_by(ByosDevice.id).offset((page - 1) * per_page).limit(per_page)
                )
            )
            views = [await self._view(session, row) for row in rows]
        return Page(views, int(total), page, per_page)

    async def get(self, principal: Principal, device_id: int) -> DeviceView:
        async with read_transaction(self._sessions) as session:
            return await self._view(session, await _owned(session, principal, device_id))

    async def config(self, principal: Principal, device_id: int) -> dict[str, Any]:
        async with read_transaction(self._sessions) as session:
            device = await self._own_device(session, principal, device_id)
            view = await self._view(session, device)
        options = self.options
        return {
            "device": {
                "id": view.id,
                "status": view.status,
                "config_version": view.config_version,
                "sim_cards": [
                    {
                        "id": card.id,
                        "sim_slot": card.sim_slot,
                        "status": card.status,
                        "hosted_sim_id": card.hosted_sim_id,
                    }
                    for card in view.sim_cards
                ],
            },
            "intervals": {
                "heartbeat_seconds": options.heartbeat_interval_s,
                "offline_after_seconds": options.offline_after_s,
                "doze_offline_after_seconds": options.doze_offline_after_s,
            },
            "limits": {"max_sim_slots": 2, "max_body_length": 1600, "max_from_length": 20},
            "features": {"sms_forwarding": True, "sms_sending": False, "dual_sim": True},
            "metadata": {
                "server_time": self._clock.now().isoformat().replace("+00:00", "Z"),
                "twilio_number": options.twilio_number,
            },
        }

    # --- registration and metadata ------------------------------------------------------------------------

    async def register(
        self,
        principal: Principal,
        *,
        android_id: str,
        sim_slots: Sequence[int],
        device_model: str,
        app_version: str,
        device_name: str | None,
    ) -> DeviceView:
        """A device in `pending_verification` with one pending SIM card (and code) per slot. The same
        android_id again in the organisation re-binds the device to this token and renews pending codes."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            family = await _token_family(session, principal)
            device = await session.scalar(
                select(ByosDevice).where(
                    ByosDevice.organization_id == principal.organization_id,
                    ByosDevice.android_id == android_id,
                )
            )
            if device is None:
                device = ByosDevice(
                    organization_id=principal.organization_id,
                    user_id=principal.user_id,
                    android_id=android_id,
                    device_model=device_model,
                    app_version=app_version,
                    device_name=device_name,
                    status=PENDING_VERIFICATION,
                    is_online=False,
                    is_in_doze_mode=False,
                    config_version=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(device)
            device.oauth_family, device.user_id, device.updated_at = family, principal.user_id, now
            device.device_model, device.app_version = device_model, app_version
            device.device_name = device_name if device_name is not None else device.device_name
            await session.flush()
            for slot in sorted(set(sim_slots)):
                card = await session.scalar(
                    select(ByosSimCard).where(
                        ByosSimCard.device_id == device.id, ByosSimCard.sim_slot == slot
                    )
                )
                if card is None:
                    card = ByosSimCard(device_id=device.id, sim_slot=slot, status="pending", created_at=now)
                    session.add(card)
                if card.status != ACTIVE:
                    await self._issue_code(session, card, now)
            await session.flush()
            view = await self._view(session, device, with_codes=True)
        return view

    async def update(
        self,
        principal: Principal,
        device_id: int,
        *,
        device_name: str | None,
        phone_number: str | None,
        app_version: str | None,
    ) -> DeviceView:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            device = await _owned(session, principal, device_id)
            if device_name is not None:
                device.device_name = device_name
            if app_version is not None:
                device.app_version = app_version
            if phone_number is not None:
                device.phone_number = phone_number
                first = await _first_active_card(session, device.id)
                if first is not None:
                    first.phone_number, first.updated_at = phone_number, now
                    await _sync_hosted_number(session, first, now)
            device.updated_at = now
            return await self._view(session, device)

    async def delete(self, principal: Principal, device_id: int) -> None:
        """The device, its SIM cards and their hosted SIMs go; messages stay with hosted_sim_id NULL."""
        async with write_transaction(self._sessions) as session:
            device = await _owned(session, principal, device_id)
            sim_ids = [
                sim
                for sim in await session.scalars(
                    select(ByosSimCard.hosted_sim_id).where(ByosSimCard.device_id == device.id)
                )
                if sim is not None
            ]
            if sim_ids:
                await session.execute(
                    update(Message).where(Message.hosted_sim_id.in_(sim_ids)).values(hosted_sim_id=None)
                )
            await session.delete(device)
            await session.flush()
            for sim_id in sim_ids:
                hosted = await session.get(HostedSim, sim_id)
                if hosted is not None:
                    await session.delete(hosted)

    async def set_enabled(self, principal: Principal, device_id: int, enabled: bool) -> DeviceView:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            device = await _owned(session, principal, device_id)
            if device.status == REVOKED:
                raise Forbidden("This device was revoked; register it again.")
            if enabled:
                verified = await _first_active_card(session, device.id)
                device.status = ACTIVE if verified is not None else PENDING_VERIFICATION
            else:
                device.status = DISABLED
            device.config_version += 1
            device.updated_at = now
            view = await self._view(session, device)
            sim_ids = await _hosted_sims(session, device.id)
            status = ACTIVE if enabled and device.is_online else ("disabled" if not enabled else "offline")
            if sim_ids:
                await session.execute(
                    update(HostedSim).where(HostedSim.id.in_(sim_ids)).values(status=status, updated_at=now)
                )
        self._announce(view, sim_ids)
        return view

    # --- the device itself ------------------------------------------------------------------------------

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
            device = await self._own_device(session, principal, device_id)
            came_online = not device.is_online
            device.is_online, device.is_in_doze_mode, device.last_seen_at = True, is_in_doze_mode, now
            device.offline_alerted_at, device.updated_at = None, now
            if battery_level is not None:
                device.battery_level = battery_level
            cards = {
                card.id: card
                for card in await session.scalars(
                    select(ByosSimCard)
                    .where(ByosSimCard.device_id == device.id)
                    .order_by(ByosSimCard.sim_slot)
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
            view = await self._view(session, device)
            sim_ids = await _hosted_sims(session, device.id)
        if came_online:
            self._announce(view, sim_ids)
        return self.options.heartbeat_interval_s

    async def submit_message(
        self,
        principal: Principal,
        device_id: int,
        *,
        sender: str,
        body: str,
        message_id: str,
        received_at: datetime | None,
        sim_slot: int | None,
    ) -> None:
        """Store an SMS the phone received through the modem ingest (idempotent on message_id)."""
        async with read_transaction(self._sessions) as session:
            device = await self._own_device(session, principal, device_id)
            if device.status in (DISABLED, REVOKED):
                raise Forbidden(f"This device is {device.status} and cannot submit messages.")
            query = select(ByosSimCard).where(
                ByosSimCard.device_id == device.id,
                ByosSimCard.status == ACTIVE,
                ByosSimCard.hosted_sim_id.is_not(None),
            )
            if sim_slot is not None:
                query = query.where(ByosSimCard.sim_slot == sim_slot)
            card = await session.scalar(query.order_by(ByosSimCard.sim_slot).limit(1))
            if card is None or card.hosted_sim_id is None:
                where = f"slot {sim_slot}" if sim_slot is not None else "this device"
                raise ValidationFailed({"sim_slot": [f"No verified SIM card in {where}."]})
            hosted_sim_id = card.hosted_sim_id
        sms = ReceivedSms(
            identity_key=f"byos:{device_id}:{message_id.lower()}",
            sender=sender,
            text=body,
            data=None,
            encoding="gsm7" if is_gsm7(body) else "ucs2",
            received_at=received_at or self._clock.now(),
            concat=None,
        )
        await self._gateway.store_received(hosted_sim_id, [sms])

    # --- SIM cards ----------------------------------------------------------------------------------------

    async def add_sim_card(self, principal: Principal, device_id: int, sim_slot: int) -> PendingSimCardView:
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                device = await self._own_device(session, principal, device_id)
                card = ByosSimCard(device_id=device.id, sim_slot=sim_slot, status="pending", created_at=now)
                session.add(card)
                await self._issue_code(session, card, now)
                await session.flush()
                return pending_view(card, self.options.twilio_number)
        except IntegrityError as exc:
            raise ValidationFailed({"sim_slot": [f"Slot {sim_slot} already has a SIM card."]}) from exc

    async def update_sim_card(
        self,
        principal: Principal,
        device_id: int,
        card_id: int,
        *,
        phone_number: str | None,
        sim_slot: int | None,
        slot_given: bool,
    ) -> Any:
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                card = await self._own_card(session, principal, device_id, card_id)
                if slot_given:
                    card.sim_slot = sim_slot
                if phone_number is not None:
                    card.phone_number = phone_number
                    await _sync_hosted_number(session, card, now)
                card.updated_at = now
                await session.flush()
                return sim_card_view(card)
        except IntegrityError as exc:
            raise ValidationFailed({"sim_slot": [f"Slot {sim_slot} already has a SIM card."]}) from exc

    async def remove_sim_card(self, principal: Principal, device_id: int, card_id: int) -> Any:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            card = await self._own_card(session, principal, device_id, card_id)
            card.status, card.verification_code, card.updated_at = "inactive", None, now
            if card.hosted_sim_id is not None:
                await session.execute(
                    update(HostedSim)
                    .where(HostedSim.id == card.hosted_sim_id)
                    .values(status="offline", updated_at=now)
                )
            return sim_card_view(card)

    async def reverify(self, principal: Principal, device_id: int, card_id: int) -> PendingSimCardView:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            card = await self._own_card(session, principal, device_id, card_id)
            if card.status == ACTIVE:
                raise ValidationFailed({"sim_card": ["This SIM card is already verified."]})
            await self._issue_code(session, card, now)
            await session.flush()
            return pending_view(card, self.options.twilio_number)

    async def _issue_code(self, session: AsyncSession, card: ByosSimCard, now: datetime) -> None:
        card.status = "pending" if card.status != "inactive" else "inactive"
        card.verification_expires_at = now + timedelta(seconds=self.options.code_ttl_s)
        card.updated_at = now
        for _ in range(8):  # 31^4 codes: a collision with a live code is rare, retry a few times
            code = new_verification_code()
            if (
                await session.scalar(select(ByosSimCard.id).where(ByosSimCard.verification_code == code))
                is None
            ):
                card.verification_code = code
                return
        raise RuntimeError("could not find a free verification code after 8 draws")

    # --- verification (called by the Twilio webhook) -------------------------------------------------------

    async def verify_code(self, code: str, phone_number: str) -> str:
        """Activate the SIM card holding `code` with the sender's number; returns the outcome word."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            card = await session.scalar(select(ByosSimCard).where(ByosSimCard.verification_code == code))
            if card is None:
                return "unknown_code"
            if card.verification_expires_at is None or card.verification_expires_at <= now:
                return "expired_code"
            device = await session.get_one(ByosDevice, card.device_id)
            card.status, card.phone_number, card.verified_at = ACTIVE, phone_number, now
            card.verification_code, card.verification_expires_at, card.updated_at = None, None, now
            await _link_hosted_sim(session, device, card, now)
            if device.status == PENDING_VERIFICATION:
                device.status = ACTIVE
            if device.phone_number is None:
                device.phone_number = phone_number
            device.config_version += 1
            device.updated_at = now
            view = await self._view(session, device)
            sim_ids = await _hosted_sims(session, device.id)
        self._announce(view, sim_ids)
        return "verified"

    # --- the offline sweep ----------------------------------------------------------------------------------

    async def sweep_offline(self) -> list[int]:
        """Mark devices offline whose last heartbeat is older than their timeout (announced), and email the
        owner once when a device has missed `alert_after_missed` timeouts. Returns devices gone offline."""
        now = self._clock.now()
        gone: list[tuple[DeviceView, list[int]]] = []
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
                    device.is_online, device.updated_at = False, now
                    sim_ids = await _hosted_sims(session, device.id)
                    if sim_ids:
                        await session.execute(
                            update(HostedSim)
                            .where(HostedSim.id.in_(sim_ids))
                            .values(status="offline", updated_at=now)
                        )
                    gone.append((await self._view(session, device), sim_ids))
                if (
                    device.offline_alerted_at is None
                    and self._notifier is not None
                    and silent_s >= timeout * self.options.alert_after_missed
                ):
                    device.offline_alerted_at = now
                    notices.append((device.id, await _notice(session, device, silent_s)))
        for view, sim_ids in gone:
            self._announce(view, sim_ids)
        for device_id, notice in notices:
            await self._send_notice(device_id, notice)
        return [view.id for view, _ in gone]

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
        if not await self._notifier.device_offline(notice):
            # Not sent: let the next sweep try again rather than never telling the owner.
            async with write_transaction(self._sessions) as session:
                await session.execute(
                    update(ByosDevice).where(ByosDevice.id == device_id).values(offline_alerted_at=None)
                )

    # --- shared -------------------------------------------------------------------------------------------

    def _announce(self, view: DeviceView, sim_ids: Sequence[int]) -> None:
        self._bus.publish(
            DeviceStatusChanged(
                device_id=view.id,
                organization_id=view.organization_id,
                hosted_sim_ids=tuple(sim_ids),
                is_online=view.is_online,
                status=view.status,
            )
        )

    async def _own_device(self, session: AsyncSession, principal: Principal, device_id: int) -> ByosDevice:
        """The device, when the caller's token family is the one that registered it (403 otherwise)."""
        device = await _owned(session, principal, device_id)
        if device.oauth_family is not None and device.oauth_family != await _token_family(session, principal):
            raise Forbidden("This token belongs to another device.")
        return device

    async def _own_card(
        self, session: AsyncSession, principal: Principal, device_id: int, card_id: int
    ) -> ByosSimCard:
        device = await self._own_device(session, principal, device_id)
        card = await session.get(ByosSimCard, card_id)
        if card is None or card.device_id != device.id:
            raise NotFound(f"SIM card {card_id} of device {device_id}")
        return card

    async def _view(
        self, session: AsyncSession, device: ByosDevice, *, with_codes: bool = False
    ) -> DeviceView:
        cards = list(
            await session.scalars(
                select(ByosSimCard)
                .where(ByosSimCard.device_id == device.id)
                .order_by(ByosSimCard.sim_slot, ByosSimCard.id)
            )
        )
        sim_ids = [card.hosted_sim_id for card in cards if card.hosted_sim_id is not None]
        count = (
            await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.hosted_sim_id.in_(sim_ids), Message.direction == "inbound")
            )
            if sim_ids
            else 0
        )
        organization = await session.get_one(Organization, device.organization_id)
        view = device_view(device, cards, organization, int(count or 0), self.options.twilio_number)
        if with_codes:
            view = replace(
                view,
                pending=[
                    pending_view(card, self.options.twilio_number)
                    for card in cards
                    if card.verification_code is not None
                ],
            )
        return view


async def _owned(session: AsyncSession, principal: Principal, device_id: int) -> ByosDevice:
    device = await session.get(ByosDevice, device_id)
    if device is None or device.organization_id != principal.organization_id:
        raise NotFound(f"BYOS device {device_id}")
    return device


async def _token_family(session: AsyncSession, principal: Principal) -> str | None:
    if principal.auth_type != "oauth" or principal.token_id is None:
        return None
    return await session.scalar(select(OAuthToken.family).where(OAuthToken.id == principal.token_id))


async def _first_active_card(session: AsyncSession, device_id: int) -> ByosSimCard | None:
    return await session.scalar(
        select(ByosSimCard)
        .where(ByosSimCard.device_id == device_id, ByosSimCard.status == ACTIVE)
        .order_by(ByosSimCard.sim_slot)
        .limit(1)
    )


async def _hosted_sims(session: AsyncSession, device_id: int) -> list[int]:
    rows = await session.scalars(
        select(ByosSimCard.hosted_sim_id).where(
            ByosSimCard.device_id == device_id, ByosSimCard.status == ACTIVE
        )
    )
    return [sim for sim in rows if sim is not None]


async def _sync_hosted_number(session: AsyncSession, card: ByosSimCard, now: datetime) -> None:
    if card.hosted_sim_id is not None:
        await session.execute(
            update(HostedSim)
            .where(HostedSim.id == card.hosted_sim_id)
            .values(phone_number=card.phone_number, country=country_of(card.phone_number), updated_at=now)
        )


async def _link_hosted_sim(
    session: AsyncSession, device: ByosDevice, card: ByosSimCard, now: datetime
) -> None:
    """Create (or reuse) the card's hosted SIM of type byos, assigned to the owner's organisation and the
    owner's first team, so team webhooks and the team's users see it like a modem SIM."""
    if card.hosted_sim_id is None:
        hosted = HostedSim(
            type="byos",
            status=ACTIVE,
            phone_number=card.phone_number,
            country=country_of(card.phone_number),
            last_seen_at=device.last_seen_at,
            slot=f"byos:{device.id}:{card.sim_slot}",
            created_at=now,
            updated_at=now,
        )
        session.add(hosted)
        await session.flush()
        card.hosted_sim_id = hosted.id
    else:
        await session.execute(
            update(HostedSim)
            .where(HostedSim.id == card.hosted_sim_id)
            .values(
                phone_number=card.phone_number,
                country=country_of(card.phone_number),
                status=ACTIVE,
                updated_at=now,
            )
        )
    team_id = await session.scalar(
        select(TeamMembership.team_id)
        .where(TeamMembership.user_id == device.user_id)
        .order_by(TeamMembership.team_id)
        .limit(1)
    )
    assigned = await session.scalar(
        select(SimAssignment.id).where(
            SimAssignment.hosted_sim_id == card.hosted_sim_id,
            SimAssignment.organization_id == device.organization_id,
        )
    )
    if assigned is None:
        session.add(
            SimAssignment(
                hosted_sim_id=card.hosted_sim_id,
                organization_id=device.organization_id,
                team_id=team_id,
                created_at=now,
                updated_at=now,
            )
        )


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
