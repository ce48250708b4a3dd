"""Queries on BYOS devices, SIM cards and their hosted SIMs that the device services share, always inside
the caller's transaction. Must not open transactions, publish events or know about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.errors import Forbidden, NotFound
from gatewayd.events import DeviceStatusChanged
from gatewayd.services.device_views import ACTIVE, DeviceView, device_view, pending_view
from gatewayd.services.gateway import country_of
from gatewayd.services.views import Principal
from gatewayd.store.models import HostedSim, Message, Organization, SimAssignment, TeamMembership
from gatewayd.store.models_byos import ByosDevice, ByosSimCard, OAuthToken


async def owned(session: AsyncSession, principal: Principal, device_id: int) -> ByosDevice:
    """The device when it belongs to the caller's organisation (404 otherwise, never 403: no probing)."""
    device = await session.get(ByosDevice, device_id)
    if device is None or device.organization_id != principal.organization_id:
        raise NotFound(f"BYOS device {device_id}")
    return device


async def token_family(session: AsyncSession, principal: Principal) -> str | None:
    if principal.auth_type != "oauth" or principal.token_id is None:
        return None
    return await session.scalar(select(OAuthToken.family).where(OAuthToken.id == principal.token_id))


async def own_device(session: AsyncSession, principal: Principal, device_id: int) -> ByosDevice:
    """The device, when the caller's token family is the one that registered it (403 otherwise)."""
    device = await owned(session, principal, device_id)
    if device.oauth_family is not None and device.oauth_family != await token_family(session, principal):
        raise Forbidden("This token belongs to another device.")
    return device


async def own_card(session: AsyncSession, principal: Principal, device_id: int, card_id: int) -> ByosSimCard:
    device = await own_device(session, principal, device_id)
    card = await session.get(ByosSimCard, card_id)
    if card is None or card.device_id != device.id:
        raise NotFound(f"SIM card {card_id} of device {device_id}")
    return card


async def first_active_card(session: AsyncSession, device_id: int) -> ByosSimCard | None:
    return await session.scalar(
        select(ByosSimCard)
        .where(ByosSimCard.device_id == device_id, ByosSimCard.status == ACTIVE)
        .order_by(ByosSimCard.sim_slot)
        .limit(1)
    )


async def hosted_sims(session: AsyncSession, device_id: int) -> list[int]:
    """The hosted SIMs of the device's verified SIM cards."""
    rows = await session.scalars(
        select(ByosSimCard.hosted_sim_id).where(
            ByosSimCard.device_id == device_id, ByosSimCard.status == ACTIVE
        )
    )
    return [sim for sim in rows if sim is not None]


async def sync_hosted_number(session: AsyncSession, card: ByosSimCard, now: datetime) -> None:
    if card.hosted_sim_id is not None:
        await session.execute(
            update(HostedSim)
            .where(HostedSim.id == card.hosted_sim_id)
            .values(phone_number=card.phone_number, country=country_of(card.phone_number), updated_at=now)
        )


async def link_hosted_sim(
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


async def load_view(
    session: AsyncSession, device: ByosDevice, twilio_number: str | None, *, with_codes: bool = False
) -> DeviceView:
    """The device as the API shows it; `with_codes` adds the pending verification codes (registration)."""
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
    view = device_view(device, cards, organization, int(count or 0), twilio_number)
    if with_codes:
        view = replace(
            view,
            pending=[
                pending_view(card, twilio_number) for card in cards if card.verification_code is not None
            ],
        )
    return view


def status_event(device: ByosDevice, sim_ids: Sequence[int]) -> DeviceStatusChanged:
    """The `device.status` announcement of the device as it is now (published by the caller after commit)."""
    return DeviceStatusChanged(
        device_id=device.id,
        organization_id=device.organization_id,
        hosted_sim_ids=tuple(sim_ids),
        is_online=device.is_online,
        status=device.status,
    )
