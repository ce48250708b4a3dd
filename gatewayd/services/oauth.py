"""The OAuth2 authorization server's use cases: clients, browser sign-in sessions, the authorization and
token endpoints (Authlib grants, see services/oauth_grants.py), revocation, and access-token lookup.

Codes are single-use: a second use revokes every token the code issued. Refresh tokens rotate; a rotated
one presented again revokes its whole family. Secrets are stored as SHA-256 hex only. No HTTP here.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import InvalidGrantError, OAuth2Error
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Throttled, ValidationFailed
from gatewayd.services.oauth_grants import (
    ACCESS_TOKEN_PREFIX,
    ACCESS_TTL,
    REFRESH_TOKEN_PREFIX,
    REFRESH_TTL,
    SCOPE_BYOS,
    SCOPE_MOBILE,
    ClientRecord,
    CodeRecord,
    EndUser,
    FormRequest,
    RefreshRecord,
    Server,
    Snapshot,
    sha256_hex,
)
from gatewayd.services.permissions import Permission
from gatewayd.services.throttle import LoginThrottle
from gatewayd.services.two_factor import TotpVerifier
from gatewayd.services.views import Principal, UserView
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import User
from gatewayd.store.models_byos import OAuthAuthorizationCode, OAuthBrowserSession, OAuthClient, OAuthToken

BYOS_PERMISSION = "byos"
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    SCOPE_MOBILE: frozenset({Permission.NUMBERS_READ.value, Permission.NUMBERS_LOCK.value,
                             Permission.MESSAGES_READ.value}),
    SCOPE_BYOS: frozenset({BYOS_PERMISSION}),
}
SCOPE_DESCRIPTIONS = {SCOPE_MOBILE: "See your SIM numbers, lock them and read their messages",
                      SCOPE_BYOS: "Register this phone and forward the SMS its SIM cards receive"}
BROWSER_SESSION_TTL = timedelta(minutes=30)
# Authlib refuses plain-http URIs; TLS ends at the proxy in front of us, so the request is described as https.
_SECURE_ORIGIN = "https://simrelay.invalid"

Pairs = list[tuple[str, str]]


class CredentialChecker(Protocol):
    """The part of AuthService the sign-in page needs (a Protocol: auth.py imports this module)."""

    async def verify_credentials(self, email: str, password: str) -> UserView | None: ...
    async def totp_secret(self, user_id: int) -> str | None: ...


@dataclass(frozen=True)
class OAuthReply:
    """An RFC 6749 answer: a status, a JSON body or a redirect (`location`), as Authlib produced it."""

    status: int
    body: dict[str, Any]
    location: str | None


@dataclass(frozen=True)
class ConsentRequest:
    """A valid authorization request, ready to show on the consent page."""

    client_name: str
    client_id: str
    scopes: tuple[str, ...]
    redirect_uri: str


class UntrustedRedirect(Exception):
    """The authorization request failed before its redirect_uri was validated: show a page, never redirect."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class BrowserSession:
    token: str  # the cookie value
    csrf_token: str
    user_id: int | None
    pending_user_id: int | None
    is_new: bool


def _client_record(row: OAuthClient) -> ClientRecord:
    return ClientRecord(row.id, row.client_id, row.name, tuple(row.redirect_uris), row.is_public,
                        row.secret_hash)


class OAuthService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 credentials: CredentialChecker, *, throttle: LoginThrottle | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._credentials = credentials
        self._totp = TotpVerifier(clock)
        # Shared with /api/auth/login: two doors to one password must not double the guessing budget.
        self._throttle = throttle if throttle is not None else LoginThrottle(clock)

    # --- clients -------------------------------------------------------------------------------------

    async def create_client(self, name: str, redirect_uris: list[str], *,
                            public: bool) -> tuple[str, str | None]:
        """Register a client; returns (client_id, client_secret or None for a public client)."""
        if not name.strip():
            raise ValidationFailed({"name": ["The name must not be empty."]})
        bad = [uri for uri in redirect_uris if not uri.startswith(("https://", "http://127.0.0.1",
                                                                    "http://[::1]", "http://localhost"))]
        if not redirect_uris or bad:
            raise ValidationFailed({"redirect_uri": [f"Redirect URIs must be https or loopback, got {bad}."]})
        client_id = str(uuid.uuid4())
        secret = None if public else secrets.token_urlsafe(32)
        async with write_transaction(self._sessions) as session:
            session.add(OAuthClient(client_id=client_id, name=name.strip(), redirect_uris=list(redirect_uris),
                                    is_public=public, secret_hash=sha256_hex(secret) if secret else None,
                                    created_at=self._clock.now()))
        return client_id, secret

    async def _client(self, session: AsyncSession, client_id: str | None) -> ClientRecord | None:
        if not client_id:
            return None
        row = await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        return _client_record(row) if row is not None else None

    # --- browser sessions (the /oauth/authorize cookie) ------------------------------------------------

    async def browser_session(self, token: str | None) -> BrowserSession:
        """The live session behind the cookie, or a fresh anonymous one (with its own CSRF token)."""
        now = self._clock.now()
        if token:
            async with read_transaction(self._sessions) as session:
                row = await session.scalar(select(OAuthBrowserSession).where(
                    OAuthBrowserSession.session_hash == sha256_hex(token),
                    OAuthBrowserSession.expires_at > now))
            if row is not None:
                return BrowserSession(token, row.csrf_token, row.user_id, row.pending_user_id, False)
        fresh, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        async with write_transaction(self._sessions) as session:
            session.add(OAuthBrowserSession(session_hash=sha256_hex(fresh), csrf_token=csrf, user_id=None,
                                            pending_user_id=None, expires_at=now + BROWSER_SESSION_TTL,
                                            created_at=now))
        return BrowserSession(fresh, csrf, None, None, True)

    async def sign_in(self, browser: BrowserSession, email: str, password: str, *, address: str) -> bool:
        """Check the password; True when the user must still enter a TOTP code. ValidationFailed otherwise."""
        wait = self._throttle.retry_after_s(email, address)
        if wait is not None:
            raise Throttled(f"sign-in attempts for this account or address {address!r}", wait)
        user = await self._credentials.verify_credentials(email, password)
        if user is None:
            self._throttle.failed(email, address)
            raise ValidationFailed({"email": ["These credentials do not match our records."]})
        self._throttle.succeeded(email)
        needs_totp = user.two_factor_enabled
        await self._set_session_user(browser, user_id=None if needs_totp else user.id,
                                     pending_user_id=user.id if needs_totp else None)
        return needs_totp

    async def second_factor(self, browser: BrowserSession, code: str) -> None:
        """Finish a sign-in whose password was right with a current TOTP code (ValidationFailed if not)."""
        user_id = browser.pending_user_id
        secret = await self._credentials.totp_secret(user_id) if user_id is not None else None
        if user_id is None or secret is None or not self._totp.accept(user_id, secret, code):
            raise ValidationFailed({"code": ["The two-factor code is invalid."]})
        await self._set_session_user(browser, user_id=user_id, pending_user_id=None)

    async def _set_session_user(self, browser: BrowserSession, *, user_id: int | None,
                                pending_user_id: int | None) -> None:
        async with write_transaction(self._sessions) as session:
            await session.execute(update(OAuthBrowserSession)
                                  .where(OAuthBrowserSession.session_hash == sha256_hex(browser.token))
                                  .values(user_id=user_id, pending_user_id=pending_user_id))

    async def user_name(self, user_id: int) -> str:
        async with read_transaction(self._sessions) as session:
            user = await session.get(User, user_id)
            return user.email if user is not None else ""

    # --- authorization endpoint ------------------------------------------------------------------------

    async def check_authorization(self, params: Pairs) -> ConsentRequest:
        """Validate an authorization request: UntrustedRedirect (show a page) when the client or redirect_uri
        is not trusted, AuthorizationRefused (redirect with `error`) for anything else that is wrong."""
        _, _, request, grant = await self._consent_grant(params)
        client: ClientRecord = grant.client
        return ConsentRequest(client.name, client.client_id, tuple(request.scope.split()), grant.redirect_uri)

    async def decide(self, params: Pairs, user_id: int | None) -> str:
        """The redirect location after consent: with a new `code`, or `error=access_denied` (user_id None)."""
        snapshot, server, request, grant = await self._consent_grant(params)
        status, _, headers = server.create_authorization_response(
            request, EndUser(user_id) if user_id is not None else None, grant)
        location = dict(headers).get("Location")
        if status != 302 or location is None:  # noqa: PLR2004
            raise UntrustedRedirect("server_error", f"Authlib answered {status} without a redirect")
        new_code = snapshot.effects.new_code
        if new_code is not None:
            plain, record = new_code
            async with write_transaction(self._sessions) as session:
                session.add(OAuthAuthorizationCode(
                    code_hash=sha256_hex(plain), client_pk=record.client_pk, user_id=record.user_id,
                    redirect_uri=record.redirect_uri, scope=record.scope,
                    code_challenge=record.code_challenge, code_challenge_method=record.code_challenge_method,
                    expires_at=record.expires_at,
                    used_at=None, created_at=snapshot.now))
        return location

    async def _consent_grant(self, params: Pairs) -> tuple[Snapshot, Server, FormRequest, Any]:
        """The authorization request checked by Authlib: (its snapshot, server, request, consent grant), or
        the refusal to show or redirect with."""
        snapshot, request = await self._authorization_snapshot(params)
        server = Server(snapshot)
        try:
            return snapshot, server, request, server.get_consent_grant(request)
        except OAuth2Error as error:
            raise _refusal(error) from error

    async def _authorization_snapshot(self, params: Pairs) -> tuple[Snapshot, FormRequest]:
        async with read_transaction(self._sessions) as session:
            client = await self._client(session, dict(params).get("client_id"))
        return Snapshot(self._clock.now(), client), FormRequest("GET", _SECURE_ORIGIN + "/oauth/authorize",
                                                               params, {})

    # --- token endpoint --------------------------------------------------------------------------------

    async def token(self, form: Pairs, headers: dict[str, str]) -> OAuthReply:
        """POST /oauth/token: authorization_code (with PKCE) or refresh_token (rotating)."""
        fields = dict(form)
        snapshot, code_row, refresh_row = await self._token_snapshot(fields)
        if code_row is not None and code_row.used_at is not None:
            await self._revoke(OAuthToken.authorization_code_id == code_row.id)
            return _error_reply(InvalidGrantError("The authorization code was already used; its tokens are "
                                                  "revoked."))
        if refresh_row is not None and (refresh_row.refresh_used_at is not None or refresh_row.revoked_at):
            await self._revoke(OAuthToken.family == refresh_row.family)
            return _error_reply(InvalidGrantError("The refresh token was already used; its family is "
                                                  "revoked."))
        request = FormRequest("POST", _SECURE_ORIGIN + "/oauth/token", form, headers)
        status, body, _ = Server(snapshot).create_token_response(request)
        if status != 200:  # noqa: PLR2004
            return OAuthReply(status, dict(body), None)
        if not await self._store_issued(snapshot):
            return _error_reply(InvalidGrantError("The grant was used concurrently; its tokens are revoked."))
        return OAuthReply(200, dict(body), None)

    async def _token_snapshot(self, fields: dict[str, str]
                              ) -> tuple[Snapshot, OAuthAuthorizationCode | None, OAuthToken | None]:
        """The client, and the code or refresh token the request names (usable ones go in the snapshot)."""
        now = self._clock.now()
        code_row = refresh_row = None
        async with read_transaction(self._sessions) as session:
            snapshot = Snapshot(now, await self._client(session, fields.get("client_id")))
            if fields.get("grant_type") == "authorization_code" and fields.get("code"):
                code_row = await session.scalar(select(OAuthAuthorizationCode).where(
                    OAuthAuthorizationCode.code_hash == sha256_hex(fields["code"])))
            if fields.get("grant_type") == "refresh_token" and fields.get("refresh_token"):
                refresh_row = await session.scalar(select(OAuthToken).where(
                    OAuthToken.refresh_hash == sha256_hex(fields["refresh_token"])))
        if code_row is not None:
            snapshot.code = CodeRecord(
                code_row.id, code_row.client_pk, code_row.user_id, code_row.redirect_uri, code_row.scope,
                code_row.code_challenge, code_row.code_challenge_method, code_row.expires_at)
        refresh_expiry = refresh_row.refresh_expires_at if refresh_row is not None else None
        if refresh_row is not None and refresh_expiry is not None and refresh_expiry > now:
            snapshot.refresh = RefreshRecord(refresh_row.id, refresh_row.family, refresh_row.client_pk,
                                             refresh_row.user_id, refresh_row.scope)
        return snapshot, code_row, refresh_row

    async def _store_issued(self, snapshot: Snapshot) -> bool:
        """Write the issued pair; False when a concurrent request consumed the same code or refresh token."""
        effects, now = snapshot.effects, snapshot.now
        assert effects.issued is not None and effects.user_id is not None and snapshot.client is not None
        family = effects.rotated.family if effects.rotated else uuid.uuid4().hex
        async with write_transaction(self._sessions) as session:
            if effects.consumed_code is not None:
                spent = await session.execute(update(OAuthAuthorizationCode).where(
                    OAuthAuthorizationCode.id == effects.consumed_code.pk,
                    OAuthAuthorizationCode.used_at.is_(None)).values(used_at=now))
                if spent.rowcount != 1:  # type: ignore[attr-defined]
                    issued_by_code = OAuthToken.authorization_code_id == effects.consumed_code.pk
                    await _revoke_where(session, issued_by_code, now)
                    return False
            if effects.rotated is not None:
                spent = await session.execute(update(OAuthToken).where(
                    OAuthToken.id == effects.rotated.pk, OAuthToken.refresh_used_at.is_(None),
                    OAuthToken.revoked_at.is_(None)).values(refresh_used_at=now, revoked_at=now))
                if spent.rowcount != 1:  # type: ignore[attr-defined]
                    await _revoke_where(session, OAuthToken.family == family, now)
                    return False
            refresh = effects.issued.get("refresh_token")
            session.add(OAuthToken(
                family=family, client_pk=snapshot.client.pk, user_id=effects.user_id,
                authorization_code_id=effects.consumed_code.pk if effects.consumed_code else None,
                scope=effects.scope or SCOPE_MOBILE, access_hash=sha256_hex(effects.issued["access_token"]),
                refresh_hash=sha256_hex(refresh) if refresh else None, access_expires_at=now + ACCESS_TTL,
                refresh_expires_at=now + REFRESH_TTL if refresh else None, refresh_used_at=None,
                revoked_at=None, created_at=now))
        return True

    async def _revoke(self, condition: Any) -> None:
        async with write_transaction(self._sessions) as session:
            await _revoke_where(session, condition, self._clock.now())

    # --- revocation (RFC 7009) ---------------------------------------------------------------------------

    async def revoke(self, token: str, client_id: str | None) -> None:
        """Revoke the token's family when the token belongs to `client_id`; unknown tokens are ignored."""
        digest = sha256_hex(token)
        async with read_transaction(self._sessions) as session:
            row = await session.scalar(select(OAuthToken).where(
                or_(OAuthToken.access_hash == digest, OAuthToken.refresh_hash == digest)))
            client = await self._client(session, client_id)
        if row is None or client is None or row.client_pk != client.pk:
            return  # RFC 7009 §2.2: an invalid token is not an error
        await self._revoke(OAuthToken.family == row.family)


async def _revoke_where(session: AsyncSession, condition: Any, now: datetime) -> None:
    families = select(OAuthToken.family).where(condition).scalar_subquery()
    await session.execute(update(OAuthToken).where(OAuthToken.family.in_(families),
                                                   OAuthToken.revoked_at.is_(None)).values(revoked_at=now))


def _error_reply(error: OAuth2Error) -> OAuthReply:
    status, body, _ = error()
    return OAuthReply(status, dict(body), None)


class AuthorizationRefused(Exception):
    """The authorization request is invalid but its redirect_uri is trusted: send the error there."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _refusal(error: OAuth2Error) -> Exception:
    if error.redirect_uri:
        _, _, headers = error()
        return AuthorizationRefused(dict(headers)["Location"])
    return UntrustedRedirect(error.error or "invalid_request", error.description or "")


async def authenticate_access_token(sessions: async_sessionmaker[AsyncSession], clock: Clock,
                                    token: str) -> Principal | None:
    """The principal of a live OAuth access token (`sra_...`), or None (unknown, revoked, expired)."""
    if not token.startswith(ACCESS_TOKEN_PREFIX) or token.startswith(REFRESH_TOKEN_PREFIX):
        return None
    now = clock.now()
    async with read_transaction(sessions) as session:
        row = await session.scalar(select(OAuthToken).where(OAuthToken.access_hash == sha256_hex(token)))
        if row is None or row.revoked_at is not None or row.access_expires_at <= now:
            return None
        user = await session.get(User, row.user_id)
        if user is None:
            return None
    permissions = frozenset().union(*(SCOPE_PERMISSIONS.get(name, frozenset()) for name in row.scope.split()))
    return Principal(user_id=user.id, organization_id=user.organization_id, auth_type="oauth",
                     permissions=permissions, api_key_id=None, token_id=row.id)
