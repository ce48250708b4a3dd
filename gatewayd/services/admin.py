"""Administration use cases behind `simrelay admin`: organisations, teams, users, SIM assignment, API keys.

`org`/`team` arguments accept a name or a numeric id. Each call is one transaction; a uniqueness
clash becomes `Conflict` naming the value, bad input `ValidationFailed` naming the field.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Conflict, NotFound, ValidationFailed
from gatewayd.services.accounts import api_key_view, organization_view, team_view, user_view
from gatewayd.services.auth import api_key_prefix, new_api_key, sha256_hex
from gatewayd.services.passwords import MIN_PASSWORD_LENGTH, NO_PASSWORD, hash_password
from gatewayd.services.permissions import validated_permissions
from gatewayd.services.views import ApiKeyView, OrganizationView, TeamView, UserView
from gatewayd.store.engine import write_transaction
from gatewayd.store.models import ApiKey, HostedSim, Organization, SimAssignment, Team, TeamMembership, User
from gatewayd.store.repositories import accounts as account_queries
from gatewayd.store.repositories import sims as sim_queries


def _require_text(field: str, value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValidationFailed({field: [f"The {field} field is required."]})
    return stripped


async def _organization(session: AsyncSession, reference: str) -> Organization:
    found = await account_queries.organization_by_reference(session, reference)
    if found is None:
        raise NotFound(f"No organisation named or numbered {reference!r}.")
    return found


async def _team(session: AsyncSession, organization: Organization, reference: str) -> Team:
    found = await account_queries.team_by_reference(session, organization.id, reference)
    if found is None:
        raise NotFound(f"No team {reference!r} in organisation {organization.name!r}.")
    return found


class AdminService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def create_organization(self, name: str, alias: str | None = None) -> OrganizationView:
        name = _require_text("name", name)
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                organization = Organization(name=name, alias=alias, created_at=now, updated_at=now)
                session.add(organization)
                await session.flush()
        except IntegrityError as exc:
            raise Conflict(f"An organisation named {name!r} already exists.") from exc
        return organization_view(organization)

    async def create_team(self, org: str, name: str) -> TeamView:
        name = _require_text("name", name)
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                organization = await _organization(session, org)
                team = Team(organization_id=organization.id, name=name, created_at=now, updated_at=now)
                session.add(team)
                await session.flush()
        except IntegrityError as exc:
            raise Conflict(f"Organisation {org!r} already has a team named {name!r}.") from exc
        return team_view(team)

    async def create_user(
        self, org: str, *, email: str, name: str, password: str | None, team: str | None
    ) -> UserView:
        """A user of the organisation (and team). `password=None` makes an account that cannot log in
        with a password (e.g. the simulation's admin, used through API keys only)."""
        email, name = _require_text("email", email), _require_text("name", name)
        if "@" not in email:
            raise ValidationFailed({"email": [f"The email must be a valid email address (got {email!r})."]})
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(
                {"password": [f"The password must be at least {MIN_PASSWORD_LENGTH} characters."]}
            )
        # Hashed before the transaction: it takes CPU time. NO_PASSWORD is not an Argon2 hash,
        # so no password ever verifies against it.
        password_hash = await hash_password(password) if password is not None else NO_PASSWORD
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                organization = await _organization(session, org)
                member_of = await _team(session, organization, team) if team is not None else None
                user = User(
                    organization_id=organization.id,
                    name=name,
                    email=email,
                    password_hash=password_hash,
                    created_at=now,
                    updated_at=now,
                )
                session.add(user)
                await session.flush()
                if member_of is not None:
                    session.add(TeamMembership(team_id=member_of.id, user_id=user.id, created_at=now))
        except IntegrityError as exc:
            raise Conflict(f"A user with email {email!r} already exists.") from exc
        return user_view(user)

    async def assign_sims(
        self,
        *,
        org: str,
        team: str | None,
        iccid: str | None = None,
        sim_id: int | None = None,
        all_unassigned: bool = False,
    ) -> list[int]:
        """Assign SIMs to the organisation (and team); re-assigning within the org moves it to the team."""
        if sum((iccid is not None, sim_id is not None, all_unassigned)) != 1:
            raise ValidationFailed({"sim": ["Give exactly one of iccid, sim_id or all_unassigned."]})
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            organization = await _organization(session, org)
            team_id = (await _team(session, organization, team)).id if team is not None else None
            sim_ids = await self._select_sims(session, iccid, sim_id, all_unassigned)
            for each in sim_ids:
                existing = await session.scalar(
                    select(SimAssignment).where(
                        SimAssignment.hosted_sim_id == each, SimAssignment.organization_id == organization.id
                    )
                )
                if existing is None:
                    session.add(
                        SimAssignment(
                            hosted_sim_id=each,
                            organization_id=organization.id,
                            team_id=team_id,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                else:
                    existing.team_id, existing.updated_at = team_id, now
        return sim_ids

    async def _select_sims(
        self, session: AsyncSession, iccid: str | None, sim_id: int | None, all_unassigned: bool
    ) -> list[int]:
        if all_unassigned:
            return await sim_queries.unassigned_sim_ids(session)
        if iccid is not None:
            found = await session.scalar(select(HostedSim.id).where(HostedSim.iccid == iccid.strip()))
            if found is None:
                raise NotFound(f"No hosted SIM with ICCID {iccid!r}.")
            return [found]
        if sim_id is None or await session.get(HostedSim, sim_id) is None:
            raise NotFound(f"No hosted SIM {sim_id}.")
        return [sim_id]

    async def create_api_key(
        self, *, org: str, user_email: str, name: str, permissions: list[str]
    ) -> tuple[ApiKeyView, str]:
        """A new key for a user of the organisation: (view, plain text key shown once)."""
        name = _require_text("name", name)
        granted = validated_permissions(permissions)
        plain = new_api_key()
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            organization = await _organization(session, org)
            user = await account_queries.user_by_email(session, user_email)
            if user is None or user.organization_id != organization.id:
                raise NotFound(f"No user {user_email!r} in organisation {organization.name!r}.")
            key = ApiKey(
                organization_id=organization.id,
                user_id=user.id,
                name=name,
                key_prefix=api_key_prefix(plain),
                secret_hash=sha256_hex(plain),
                permissions=granted,
                created_at=now,
                updated_at=now,
            )
            session.add(key)
            await session.flush()
        return api_key_view(key), plain
