"""Who the caller is (user, organisation and API key views for `GET /api/user`), and TOTP enrolment.

Also the one place that turns account rows into views (other services import these builders).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import NotFound
from gatewayd.services.two_factor import new_totp_secret, provisioning_uri
from gatewayd.services.views import ApiKeyView, OrganizationView, Principal, TeamView, UserView
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import ApiKey, Organization, Team, User
from gatewayd.store.repositories import accounts as account_queries


@dataclass(frozen=True)
class TotpEnrollment:
    """What an authenticator app needs: the base32 secret and the otpauth:// URI (QR code content)."""

    user_id: int
    email: str
    secret: str
    uri: str


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        name=user.name,
        email=user.email,
        two_factor_enabled=user.totp_secret is not None,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def organization_view(organization: Organization) -> OrganizationView:
    return OrganizationView(id=organization.id, name=organization.name, alias=organization.alias)


def team_view(team: Team) -> TeamView:
    return TeamView(id=team.id, name=team.name)


def api_key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        name=key.name,
        key_prefix=key.key_prefix,
        permissions=list(key.permissions),
        last_used_at=key.last_used_at,
        created_at=key.created_at,
        updated_at=key.updated_at,
    )


class AccountService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 pending_api_key_use: Callable[[int], datetime | None] | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        # AuthService.pending_api_key_use: uses noted in this process and not yet written (batched).
        self._pending_use = pending_api_key_use

    async def enable_totp(self, email: str) -> TotpEnrollment:
        """Turn two-factor login on with a fresh secret (replacing any earlier one)."""
        secret = new_totp_secret()
        async with write_transaction(self._sessions) as session:
            user = await account_queries.user_by_email(session, email)
            if user is None:
                raise NotFound(f"No user with email {email!r}.")
            user.totp_secret = secret
            user.updated_at = self._clock.now()
        return TotpEnrollment(user.id, user.email, secret, provisioning_uri(secret, user.email))

    async def disable_totp(self, email: str) -> None:
        async with write_transaction(self._sessions) as session:
            user = await account_queries.user_by_email(session, email)
            if user is None:
                raise NotFound(f"No user with email {email!r}.")
            user.totp_secret = None
            user.updated_at = self._clock.now()

    async def describe(self, principal: Principal) -> tuple[UserView, OrganizationView, ApiKeyView | None]:
        """The caller's user, organisation and (for API keys) the key; NotFound if any was deleted."""
        async with read_transaction(self._sessions) as session:
            user = await session.get(User, principal.user_id)
            organization = await session.get(Organization, principal.organization_id)
            if user is None or organization is None:
                raise NotFound(
                    f"user {principal.user_id} or organisation {principal.organization_id} is gone"
                )
            key = None
            if principal.api_key_id is not None:
                key = await session.get(ApiKey, principal.api_key_id)
                if key is None:
                    raise NotFound(f"API key {principal.api_key_id} is gone")
            view = api_key_view(key) if key is not None else None
        if view is not None and self._pending_use is not None:
            pending = self._pending_use(view.id)
            if pending is not None and (view.last_used_at is None or view.last_used_at < pending):
                view = replace(view, last_used_at=pending)
        return user_view(user), organization_view(organization), view
