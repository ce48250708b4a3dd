"""BYOS phones: listing, registration with pending SIM cards, metadata, enable/disable, deletion, config,
and SMS submission through the modem ingest. SIM cards live in sim_cards.py, heartbeats and the offline
sweep in device_presence.py.

A device is bound to the OAuth token family that registered it: only that family may act as the device
(heartbeat, messages, SIM cards, config); the rest of the organisation sees it but cannot impersonate it.
Events are published after commit. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Forbidden, ValidationFailed
from gatewayd.events import EventBus
from gatewayd.services.device_records import (
    first_active_card,
    hosted_sims,
    load_view,
    own_device,
    owned,
    status_event,
    sync_hosted_number,
    token_family,
)
from gatewayd.services.device_views import (
    ACTIVE,
    DISABLED,
    PENDING_VERIFICATION,
    REVOKED,
    ByosOptions,
    DeviceView,
)
from gatewayd.services.gateway import GatewayRecorder, ReceivedSms
from gatewayd.services.sim_cards import issue_code
from gatewayd.services.views import Page, Principal
from gatewayd.sms.gsm7 import is_gsm7
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim, Message
from gatewayd.store.models_byos import ByosDevice, ByosSimCard


class DeviceService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        bus: EventBus,
        *,
        gateway: GatewayRecorder,
        options: ByosOptions,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self._gateway = gateway
        self.options = options

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
            return await self._view(session, await owned(session, principal, device_id))

    async def config(self, principal: Principal, device_id: int) -> dict[str, Any]:
        async with read_transaction(self._sessions) as session:
            device = await own_device(session, principal, device_id)
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
            family = await token_family(session, principal)
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
                    await issue_code(session, card, now, self.options.code_ttl_s)
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
            device = await owned(session, principal, device_id)
            if device_name is not None:
                device.device_name = device_name
            if app_version is not None:
                device.app_version = app_version
            if phone_number is not None:
                device.phone_number = phone_number
                first = await first_active_card(session, device.id)
                if first is not None:
                    first.phone_number, first.updated_at = phone_number, now
                    await sync_hosted_number(session, first, now)
            device.updated_at = now
            return await self._view(session, device)

    async def delete(self, principal: Principal, device_id: int) -> None:
        """The device, its SIM cards and their hosted SIMs go; messages stay with hosted_sim_id NULL."""
        async with write_transaction(self._sessions) as session:
            device = await owned(session, principal, device_id)
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
            device = await owned(session, principal, device_id)
            if device.status == REVOKED:
                raise Forbidden("This device was revoked; register it again.")
            if enabled:
                verified = await first_active_card(session, device.id)
                device.status = ACTIVE if verified is not None else PENDING_VERIFICATION
            else:
                device.status = DISABLED
            device.config_version += 1
            device.updated_at = now
            view = await self._view(session, device)
            sim_ids = await hosted_sims(session, device.id)
            announcement = status_event(device, sim_ids)
            status = ACTIVE if enabled and device.is_online else ("disabled" if not enabled else "offline")
            if sim_ids:
                await session.execute(
                    update(HostedSim).where(HostedSim.id.in_(sim_ids)).values(status=status, updated_at=now)
                )
        self._bus.publish(announcement)
        return view

    # --- the device itself ------------------------------------------------------------------------------

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
            device = await own_device(session, principal, device_id)
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

    async def _view(
        self, session: AsyncSession, device: ByosDevice, *, with_codes: bool = False
    ) -> DeviceView:
        return await load_view(session, device, self.options.twilio_number, with_codes=with_codes)
