"""Queries for hosted SIMs and their assignments. No commits: services own transactions.

Visibility is decided here in SQL, so a SIM of another organisation is never even loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import HostedSim, Organization, SimAssignment, Team
from gatewayd.store.models_message_counts import SimMessageCount
from gatewayd.store.repositories.dialect import upsert_insert


@dataclass(frozen=True)
class VisibleSim:
    """A SIM as one organisation sees it: its row, that organisation's assignment, and the team if any."""

    sim: HostedSim
    assignment: SimAssignment
    organization: Organization
    team: Team | None


def _visibility(organization_id: int, team_ids: Sequence[int] | None) -> ColumnElement[bool]:
    in_org = SimAssignment.organization_id == organization_id
    if team_ids is None:  # the whole organisation (API keys)
        return in_org
    return and_(in_org, or_(SimAssignment.team_id.is_(None), SimAssignment.team_id.in_(list(team_ids))))


async def visible_sims(
    session: AsyncSession, organization_id: int, team_ids: Sequence[int] | None, sim_id: int | None = None,
    *, for_update: bool = False,
) -> list[VisibleSim]:
    """SIMs visible to the caller, ordered by id; `team_ids=None` means every SIM of the organisation.

    `for_update` row-locks the SIMs found until the transaction ends (PostgreSQL `FOR NO KEY UPDATE`,
    which leaves inserts of messages referencing them alone; SQLite's writer lock already serialises)."""
    query = (
        select(HostedSim, SimAssignment, Organization, Team)
        .join(SimAssignment, SimAssignment.hosted_sim_id == HostedSim.id)
        .join(Organization, Organization.id == SimAssignment.organization_id)
        .outerjoin(Team, Team.id == SimAssignment.team_id)
        .where(_visibility(organization_id, team_ids))
        .order_by(HostedSim.id)
    )
    if sim_id is not None:
        query = query.where(HostedSim.id == sim_id)
    if for_update:
        query = query.with_for_update(of=HostedSim, key_share=True)
    rows = await session.execute(query)
    return [VisibleSim(sim, assignment, org, team) for sim, assignment, org, team in rows]


async def inbound_counts(session: AsyncSession, sim_ids: Sequence[int]) -> dict[int, int]:
    """Inbound messages per SIM from the trigger-kept counters (one row each, not a scan of messages)."""
    if not sim_ids:
        return {}
    rows = await session.execute(
        select(SimMessageCount.hosted_sim_id, SimMessageCount.inbound)
        .where(SimMessageCount.hosted_sim_id.in_(list(sim_ids)))
    )
    return {sim_id: count for sim_id, count in rows}


async def unassigned_sim_ids(session: AsyncSession) -> list[int]:
    assigned = select(SimAssignment.hosted_sim_id)
    rows = await session.scalars(
        select(HostedSim.id).where(HostedSim.id.not_in(assigned)).order_by(HostedSim.id)
    )
    return list(rows)


async def upsert_physical_sim(
    session: AsyncSession,
    *,
    iccid: str,
    imsi: str | None,
    phone_number: str | None,
    country: str | None,
    provider: str | None,
    now: datetime,
) -> int:
    """Insert or refresh the SIM with this ICCID in one statement (race-free); returns its id.

    Known values are never overwritten by unknown ones, and a `disabled` SIM stays disabled.
    """
    insert = await upsert_insert(session, HostedSim)
    values = {
        "iccid": iccid,
        "imsi": imsi,
        "phone_number": phone_number,
        "type": "physical",
        "status": "active",
        "country": country,
        "provider": provider,
        "last_seen_at": now,
        "created_at": now,
        "updated_at": now,
    }
    new = insert.excluded
    statement = (
        insert.values(**values)
        .on_conflict_do_update(
            index_elements=[HostedSim.iccid],
            set_={
                "imsi": func.coalesce(new.imsi, HostedSim.imsi),
                "phone_number": func.coalesce(new.phone_number, HostedSim.phone_number),
                "country": func.coalesce(new.country, HostedSim.country),
                "provider": func.coalesce(new.provider, HostedSim.provider),
                "status": case((HostedSim.status == "disabled", "disabled"), else_="active"),
                "last_seen_at": new.last_seen_at,
                "updated_at": new.updated_at,
            },
        )
        .returning(HostedSim.id)
    )
    sim_id: int = (await session.execute(statement)).scalar_one()
    return sim_id


async def mark_offline(session: AsyncSession, sim_id: int, now: datetime) -> None:
    """`offline` unless an administrator disabled it."""
    await session.execute(
        update(HostedSim)
        .where(HostedSim.id == sim_id, HostedSim.status != "disabled")
        .values(status="offline", updated_at=now)
    )
