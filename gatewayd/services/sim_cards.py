"""SIM cards of BYOS phones: add, update, remove, re-issue a verification code, and activate a card by its
code (what the Twilio webhook does). Events are published after commit. No HTTP here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import ValidationFailed
from gatewayd.events import DeviceStatusChanged, EventBus
from gatewayd.services.device_records import (
    hosted_sims,
    link_hosted_sim,
    own_card,
    own_device,
    status_event,
    sync_hosted_number,
)
from gatewayd.services.device_views import (
    ACTIVE,
    PENDING_VERIFICATION,
    ByosOptions,
    PendingSimCardView,
    pending_view,
    sim_card_view,
)
from gatewayd.services.views import Principal
from gatewayd.store.engine import write_transaction
from gatewayd.store.models import HostedSim
from gatewayd.store.models_byos import ByosDevice, ByosSimCard

# No 0/O, 1/I/L: the user may type the code by hand.
VERIFICATION_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_DRAWS = 8  # 31^4 codes: a collision with a live code is rare, a few draws always suffice


def new_verification_code() -> str:
    return "SR-" + "".join(secrets.choice(VERIFICATION_ALPHABET) for _ in range(4))


async def issue_code(session: AsyncSession, card: ByosSimCard, now: datetime, ttl_s: int) -> None:
    """Give the card a fresh code, unique among all cards, valid `ttl_s` seconds from `now`."""
    card.status = "pending" if card.status != "inactive" else "inactive"
    card.verification_expires_at = now + timedelta(seconds=ttl_s)
    card.updated_at = now
    for _ in range(CODE_DRAWS):
        code = new_verification_code()
        if await session.scalar(select(ByosSimCard.id).where(ByosSimCard.verification_code == code)) is None:
            card.verification_code = code
            return
    raise RuntimeError(f"could not find a free verification code after {CODE_DRAWS} draws")


@dataclass(frozen=True)
class Verification:
    """What a code did: `verified`, `unknown_code` or `expired_code`; the announcement to publish after
    commit when a card was activated."""

    outcome: str
    sim_card_id: int | None = None
    announcement: DeviceStatusChanged | None = None


class SimCardService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, bus: EventBus, options: ByosOptions
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self.options = options

    async def add(self, principal: Principal, device_id: int, sim_slot: int) -> PendingSimCardView:
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                device = await own_device(session, principal, device_id)
                card = ByosSimCard(device_id=device.id, sim_slot=sim_slot, status="pending", created_at=now)
                session.add(card)
                await issue_code(session, card, now, self.options.code_ttl_s)
                await session.flush()
                return pending_view(card, self.options.twilio_number)
        except IntegrityError as exc:
            raise ValidationFailed({"sim_slot": [f"Slot {sim_slot} already has a SIM card."]}) from exc

    async def update(
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
                card = await own_card(session, principal, device_id, card_id)
                if slot_given:
                    card.sim_slot = sim_slot
                if phone_number is not None:
                    card.phone_number = phone_number
                    await sync_hosted_number(session, card, now)
                card.updated_at = now
                await session.flush()
                return sim_card_view(card)
        except IntegrityError as exc:
            raise ValidationFailed({"sim_slot": [f"Slot {sim_slot} already has a SIM card."]}) from exc

    async def remove(self, principal: Principal, device_id: int, card_id: int) -> Any:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            card = await own_card(session, principal, device_id, card_id)
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
            card = await own_card(session, principal, device_id, card_id)
            if card.status == ACTIVE:
                raise ValidationFailed({"sim_card": ["This SIM card is already verified."]})
            await issue_code(session, card, now, self.options.code_ttl_s)
            await session.flush()
            return pending_view(card, self.options.twilio_number)

    # --- verification (the Twilio webhook) -------------------------------------------------------------

    async def verify_code(self, code: str, phone_number: str) -> str:
        """Activate the SIM card holding `code` with the sender's number; returns the outcome word."""
        async with write_transaction(self._sessions) as session:
            verification = await self.verify_in(session, code, phone_number)
        self.announce(verification)
        return verification.outcome

    async def verify_in(self, session: AsyncSession, code: str, phone_number: str) -> Verification:
        """`verify_code` inside the caller's write transaction (so a caller can record the attempt in the
        same commit); the caller passes the result to `announce` after commit."""
        now = self._clock.now()
        card = await session.scalar(select(ByosSimCard).where(ByosSimCard.verification_code == code))
        if card is None:
            return Verification("unknown_code")
        if card.verification_expires_at is None or card.verification_expires_at <= now:
            return Verification("expired_code", card.id)
        device = await session.get_one(ByosDevice, card.device_id)
        card.status, card.phone_number, card.verified_at = ACTIVE, phone_number, now
        card.verification_code, card.verification_expires_at, card.updated_at = None, None, now
        await link_hosted_sim(session, device, card, now)
        if device.status == PENDING_VERIFICATION:
            device.status = ACTIVE
        if device.phone_number is None:
            device.phone_number = phone_number
        device.config_version += 1
        device.updated_at = now
        await session.flush()
        return Verification("verified", card.id, status_event(device, await hosted_sims(session, device.id)))

    def announce(self, verification: Verification) -> None:
        if verification.announcement is not None:
            self._bus.publish(verification.announcement)
