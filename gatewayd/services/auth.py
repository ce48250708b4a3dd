"""Bearer-token authentication: API keys (`sk_live_...`) and personal access tokens (`<id>|<secret>`),
and the login use cases (password, TOTP second step, logout).

Keys and tokens carry 256 random bits, so they are stored as SHA-256 hex and found by exact hash;
the plain text exists only in the answer that creates it. Pending 2FA logins and failed-login counts
are kept in this process only (see services/two_factor.py, services/throttle.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Forbidden, Throttled, ValidationFailed
from gatewayd.services.accounts import user_view
from gatewayd.services.oauth import authenticate_access_token
from gatewayd.services.oauth_grants import ACCESS_TOKEN_PREFIX
from gatewayd.services.passwords import NO_PASSWORD, verify_password
from gatewayd.services.permissions import ALL_PERMISSIONS
from gatewayd.services.throttle import LoginThrottle
from gatewayd.services.two_factor import PendingLogins, TotpVerifier
from gatewayd.services.views import Principal, UserView
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import PersonalAccessToken, User
from gatewayd.store.repositories import accounts as account_queries
from gatewayd.store.repositories import credentials

MAX_ID_DIGITS = 18  # ids are 64-bit integers; longer digit strings cannot name a token

log = logging.getLogger(__name__)

API_KEY_PREFIX = "sk_live_"
API_KEY_PREFIX_LENGTH = 12
# last_used_at moves at most this often per credential, and reaches the database in batches (below).
LAST_USED_RESOLUTION = timedelta(seconds=60)
# A principal found by token hash is reused this long in this process. Revoking, regenerating, deleting
# or editing a credential through this process clears the cache at once; a change made by another
# process (another API worker, the admin CLI) takes effect here within this bound.
PRINCIPAL_CACHE_TTL_S = 5.0
PRINCIPAL_CACHE_MAX_ENTRIES = 10_000
# Pending last_used_at values are written in one transaction this often (and at shutdown).
LAST_USED_FLUSH_INTERVAL_S = 10.0
# Laravel's wording; the same for an unknown email and a wrong password (nothing tells them apart).
BAD_CREDENTIALS = "These credentials do not match our records."
DEFAULT_TOKEN_NAME = "api"


@dataclass(frozen=True)
class LoginResult:
    """Either a token (`token`, `user`) or a pending second step (`tmp_token`)."""

    token: str | None
    user: UserView | None
    tmp_token: str | None


@dataclass
class _Remembered:
    principal: Principal
    until: float  # monotonic seconds
    expires_at: datetime | None  # a personal token's own expiry, honoured on every hit
    last_used_at: datetime | None  # as stored, or as last noted by this process


class PrincipalCache:
    """Principals by token hash for `ttl_s`, at most `max_entries` (least recently used go first).

    `forget_all` empties it and bumps a generation: a lookup that began before the change does not
    store its (possibly stale) answer afterwards.
    """

    def __init__(self, clock: Clock, *, ttl_s: float = PRINCIPAL_CACHE_TTL_S,
                 max_entries: int = PRINCIPAL_CACHE_MAX_ENTRIES) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Remembered] = OrderedDict()
        self.generation = 0

    def get(self, token_hash: str) -> _Remembered | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry.until <= self._clock.monotonic() or (
                entry.expires_at is not None and entry.expires_at <= self._clock.now()):
            del self._entries[token_hash]
            return None
        self._entries.move_to_end(token_hash)
        return entry

    def put(self, token_hash: str, principal: Principal, *, generation: int, expires_at: datetime | None,
            last_used_at: datetime | None) -> _Remembered:
        entry = _Remembered(principal, self._clock.monotonic() + self._ttl_s, expires_at, last_used_at)
        if generation == self.generation and self._ttl_s > 0:
            self._entries[token_hash] = entry
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return entry

    def forget_all(self) -> None:
        self.generation += 1
        self._entries.clear()


class LastUsedLedger:
    """last_used_at values noted in memory and written later in one batch (no write per request)."""

    def __init__(self) -> None:
        self.api_keys: dict[int, datetime] = {}
        self.tokens: dict[int, datetime] = {}

    def note(self, principal: Principal, when: datetime) -> None:
        if principal.api_key_id is not None:
            self.api_keys[principal.api_key_id] = when
        elif principal.token_id is not None:
            self.tokens[principal.token_id] = when

    def take(self) -> tuple[dict[int, datetime], dict[int, datetime]]:
        taken = (self.api_keys, self.tokens)
        self.api_keys, self.tokens = {}, {}
        return taken

    def put_back(self, api_keys: dict[int, datetime], tokens: dict[int, datetime]) -> None:
        """After a failed flush: keep the newest value of each, so nothing noted is lost."""
        for pending, failed in ((self.api_keys, api_keys), (self.tokens, tokens)):
            for key, when in failed.items():
                pending[key] = max(when, pending.get(key, when))


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class AuthService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 throttle: LoginThrottle | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._throttle = throttle if throttle is not None else LoginThrottle(clock)
        self._pending = PendingLogins(clock)
        self._totp = TotpVerifier(clock)
        self.principals = PrincipalCache(clock)
        self.last_used = LastUsedLedger()

    async def login(self, email: str, password: str, *, address: str,
                    device_name: str | None = None) -> LoginResult:
        """A personal access token, or a `tmp_token` for the TOTP step when the user has 2FA on.

        Throttled per email and per client address (Throttled). A wrong password and an unknown email
        give the same ValidationFailed after the same Argon2 work.
        """
        self._refuse_if_throttled(email, address)
        user = await self.verify_credentials(email, password)
        if user is None:
            self._throttle.failed(email, address)
            raise ValidationFailed({"email": [BAD_CREDENTIALS]})
        self._throttle.succeeded(email)
        name = device_name or DEFAULT_TOKEN_NAME
        if user.two_factor_enabled:
            return LoginResult(None, None, self._pending.open(user.id, name))
        _, token = await self.issue_personal_token(user.id, name)
        return LoginResult(token, user, None)

    async def complete_two_factor(self, tmp_token: str, code: str, *, address: str) -> tuple[str, UserView]:
        """(personal access token, user) for a valid pending login and a current TOTP code.

        The tmp_token is spent by success and by too many wrong codes; an expired or spent one fails.
        """
        self._refuse_if_throttled(tmp_token, address)
        pending = self._pending.peek(tmp_token)
        if pending is None:
            self._throttle.failed(tmp_token, address)
            raise ValidationFailed({"tmp_token": ["The two-factor login has expired; log in again."]})
        async with read_transaction(self._sessions) as session:
            user = await session.get(User, pending.user_id)
            secret = user.totp_secret if user is not None else None
        if user is None or secret is None or not self._totp.accept(user.id, secret, code):
            self._throttle.failed(tmp_token, address)
            self._pending.count_failure(tmp_token)
            raise ValidationFailed({"code": ["The two-factor code is invalid."]})
        if not self._pending.spend(tmp_token):  # a concurrent request spent it first
            raise ValidationFailed({"tmp_token": ["The two-factor login has expired; log in again."]})
        _, token = await self.issue_personal_token(user.id, pending.device_name)
        return token, user_view(user)

    async def logout(self, principal: Principal) -> None:
        """Revoke the personal access token the caller presented."""
        if principal.auth_type != "sanctum" or principal.token_id is None:
            raise Forbidden("Only personal access tokens log out here; revoke OAuth tokens at /oauth/revoke.")
        await self.revoke_personal_token(principal.token_id)

    def _refuse_if_throttled(self, key: str, address: str) -> None:
        wait = self._throttle.retry_after_s(key, address)
        if wait is not None:
            raise Throttled(f"login attempts for this account or address {address!r}", wait)

    async def authenticate(self, bearer_token: str) -> Principal | None:
        """The principal behind a bearer token, or None for anything unknown, revoked or expired."""
        token = bearer_token.strip()
        if token.startswith(ACCESS_TOKEN_PREFIX):  # OAuth2 access token (services/oauth.py), not cached:
            return await authenticate_access_token(self._sessions, self._clock, token)  # revoked there
        token_hash = sha256_hex(token)
        remembered = self.principals.get(token_hash)
        if remembered is None:
            remembered = await self._look_up(token, token_hash)
            if remembered is None:
                return None
        self._note_use(remembered)
        return remembered.principal

    async def _look_up(self, token: str, token_hash: str) -> _Remembered | None:
        generation = self.principals.generation
        if token.startswith(API_KEY_PREFIX):
            return await self._api_key(token_hash, generation)
        token_id, separator, secret = token.partition("|")
        # An id beyond 18 digits cannot be ours (ids are 64-bit) and would overflow the driver.
        if separator and token_id.isdigit() and len(token_id) <= MAX_ID_DIGITS and secret:
            return await self._personal_token(int(token_id), secret, token_hash, generation)
        return None

    def _note_use(self, remembered: _Remembered) -> None:
        now = self._clock.now()
        if remembered.last_used_at is None or remembered.last_used_at < now - LAST_USED_RESOLUTION:
            remembered.last_used_at = now
            self.last_used.note(remembered.principal, now)

    async def _api_key(self, token_hash: str, generation: int) -> _Remembered | None:
        async with read_transaction(self._sessions) as session:
            found = await credentials.api_key_by_secret_hash(session, token_hash)
        if found is None:
            return None
        principal = Principal(user_id=found.user_id, organization_id=found.organization_id,
                              auth_type="api_key", permissions=frozenset(found.permissions),
                              api_key_id=found.id, token_id=None)
        last_used = max(filter(None, (found.last_used_at, self.last_used.api_keys.get(found.id))),
                        default=None)
        return self.principals.put(token_hash, principal, generation=generation, expires_at=None,
                                   last_used_at=last_used)

    async def _personal_token(self, token_id: int, secret: str, token_hash: str,
                              generation: int) -> _Remembered | None:
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
        principal = Principal(user_id=user.id, organization_id=user.organization_id, auth_type="sanctum",
                              permissions=ALL_PERMISSIONS, api_key_id=None, token_id=token.id)
        last_used = max(filter(None, (token.last_used_at, self.last_used.tokens.get(token.id))),
                        default=None)
        return self.principals.put(token_hash, principal, generation=generation,
                                   expires_at=token.expires_at, last_used_at=last_used)

    def forget_credentials(self) -> None:
        """Call after any change to a key or token (revoke, regenerate, delete, new permissions)."""
        self.principals.forget_all()

    def pending_api_key_use(self, key_id: int) -> datetime | None:
        """A use of the key noted here and not yet written (views show it: this process is exact)."""
        return self.last_used.api_keys.get(key_id)

    async def flush_last_used(self) -> int:
        """Write every noted last_used_at in one transaction; returns how many rows it covered."""
        api_keys, tokens = self.last_used.take()
        if not api_keys and not tokens:
            return 0
        try:
            async with write_transaction(self._sessions) as session:
                for key_id, when in api_keys.items():
                    await credentials.touch_api_key(session, key_id, when, when)
                for token_id, when in tokens.items():
                    await credentials.touch_token(session, token_id, when, when)
        except BaseException:
            self.last_used.put_back(api_keys, tokens)
            raise
        return len(api_keys) + len(tokens)

    async def flush_last_used_every(self, interval_s: float = LAST_USED_FLUSH_INTERVAL_S) -> None:
        """Flush forever every `interval_s`; whoever starts this task cancels it and flushes once more."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush_last_used()
            except Exception:  # a task boundary: the values were put back for the next round
                log.exception("writing last_used_at failed; retrying in %.0f s", interval_s)

    async def verify_credentials(self, email: str, password: str) -> UserView | None:
        """The user when email and password match; None otherwise (same cost for an unknown email)."""
        async with read_transaction(self._sessions) as session:
            user = await account_queries.user_by_email(session, email)
        # An account without a password pays for a full verification too (NO_PASSWORD would fail fast).
        stored = user.password_hash if user is not None and user.password_hash != NO_PASSWORD else None
        if not await verify_password(stored, password) or user is None:
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
        self.forget_credentials()  # after commit: a lookup racing the revoke cannot re-cache it


def api_key_prefix(key: str) -> str:
    return key[:API_KEY_PREFIX_LENGTH]
