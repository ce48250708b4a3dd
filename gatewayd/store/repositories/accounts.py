"""Queries for organisations, teams, users and memberships. No commits: services own transactions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import Organization, Team, TeamMembership, User


def _as_id(reference: str) -> int | None:
    stripped = reference.strip()
    return int(stripped) if stripped.isdigit() else None


async def organization_by_reference(session: AsyncSession, reference: str) -> Organization | None:
    """The organisation whose name is `reference`, else whose id is `reference` if it is numeric."""
    found = await session.scalar(select(Organization).where(Organization.name == reference))
    if found is None and (as_id := _as_id(reference)) is not None:
        found = await session.get(Organization, as_id)
    return found


async def team_by_reference(session: AsyncSession, organization_id: int, reference: str) -> Team | None:
    """A team of the organisation by name, else by numeric id (never a team of another organisation)."""
    in_org = select(Team).where(Team.organization_id == organization_id)
    found = await session.scalar(in_org.where(Team.name == reference))
    if found is None and (as_id := _as_id(reference)) is not None:
        found = await session.scalar(in_org.where(Team.id == as_id))
    return found


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """Case-insensitive lookup, served by the unique index on lower(email)."""
    return await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


async def team_ids_of_user(session: AsyncSession, user_id: int) -> list[int]:
    rows = await session.scalars(select(TeamMembership.team_id).where(TeamMembership.user_id == user_id))
    return list(rows)
