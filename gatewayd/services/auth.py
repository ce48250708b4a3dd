"""Bearer-token authentication: API keys (`sk_live_...`) and personal access tokens (`<id>|<secret>`).

Keys and tokens carry 256 random bits, so they are stored as SHA-256 hex and found by exact hash;
the plain text exists only in the answer that creates it. Login (password, token issue) lives here too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.services.accounts import user_view
from gatewayd.services.passwords import verify_password
from gatewayd.services.permissions import ALL_PERMISSIONS
from gatewayd.services.views import Principal, UserView
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import PersonalAccessToken, User
from gatewayd.store.repositories import accounts as account_queries
from gatewayd.store.repositories import credentials

API_KEY_PREFIX = "sk_live_"
API_KEY_PREFIX_LENGTH = 12
# last_used_at is refreshed at most this often, so reads do not each cost a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class AuthService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def authenticate(self, bearer_token: str) -> Principal | None:
        """The principal behind a bearer token, or None for anything unknown, revoked or expired."""
        token = bearer_token.strip()
        if token.startswith(API_KEY_PREFIX):
            return await self._authenticate_api_key(token)
        token_id, separator, secret = token.partition("|")
        if separator and token_id.isdigit() and secret:
            return await self._authenticate_personal_token(int(token_id), secret)
        return None

    async def _authenticate_api_key(self, key: str) -> Principal | None:
        now = self._clock.now()
        async with read_transaction(self._sessions) as session:
            found = await credentials.api_key_by_secret_hash(session, sha256_hex(key))
            if found is None:
                return None
            principal = Principal(
                user_id=found.user_id,
                organization_id=found.organization_id,
                auth_type="api_key",
                permissions=frozenset(found.permissions),
                api_key_id=found.id,
                token_id=None,
            )
            stale = found.last_used_at is None or found.last_used_at < now - LAST_USED_RESOLUTION
        if stale:
            async with write_transaction(self._sessions) as session:
                await credentials.touch_api_key(session, found.id, now, now - LAST_USED_RESOLUTION)
        return principal

    async def _authenticate_personal_token(self, token_id: int, secret: str) -> Principal | None:
        now = self._clock.now()
        async with read_transaction(self._sessions) as session:
            token = await session.get(PersonalAccessToken, token_id)
            if token is None or not hmac.compare_digest(token.token_hash, sha256_hex(secret)):
                return None
            if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
                return None
            user = await session.get(User, token.user_id)
            if user is None:
                return None
            principal = Principal(
                user_id=user.id,
                organization_id=user.organization_id,
                auth_type="sanctum",
                permissions=ALL_PERMISSIONS,
                api_key_id=None,
                token_id=token.id,
            )
            stale = token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION
        if stale:
            async with write_transaction(self._sessions) as session:
                await credentials.touch_token(session, token_id, now, now - LAST_USED_RESOLUTION)
        return principal

    async def verify_credentials(self, email: str, password: str) -> UserView | None:
        """The user when email and password match; None otherwise (same cost for an unknown email)."""
        async with read_transaction(self._sessions) as session:
            user = await account_queries.user_by_email(session, email)
        if not await verify_password(user.password_hash if user else None, password) or user is None:
            return None
        return user_view(user)

    async def totp_secret(self, user_id: int) -> str | None:
        """The user's TOTP secret when two-factor login is on (for the login/2fa step)."""
        async with read_transaction(self._sessions) as session:
            user = await session.get(User, user_id)
            return user.totp_secret if user else None

    async def issue_personal_token(
        self, user_id: int, name: str, expires_at: datetime | None = None
    ) -> tuple[int, str]:
        """A new personal access token: (token id, plain text `<id>|<secret>`, shown once)."""
        secret = secrets.token_urlsafe(32)
        async with write_transaction(self._sessions) as session:
            token = PersonalAccessToken(
                user_id=user_id,
                name=name,
                token_hash=sha256_hex(secret),
                expires_at=expires_at,
                created_at=self._clock.now(),
            )
            session.add(token)
            await session.flush()
            token_id = token.id
        return token_id, f"{token_id}|{secret}"

    async def revoke_personal_token(self, token_id: int) -> None:
        async with write_transaction(self._sessions) as session:
            await session.execute(
                update(PersonalAccessToken)
                .where(PersonalAccessToken.id == token_id, PersonalAccessToken.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )


def api_key_prefix(key: str) -> str:
    return key[:API_KEY_PREFIX_LENGTH]
