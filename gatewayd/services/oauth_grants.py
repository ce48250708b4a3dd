"""Authlib's RFC 6749/7636 grant logic, run synchronously over records the caller loaded beforehand.

Authlib's server classes call sync hooks (query_client, query_authorization_code, save_token, ...). Our
store is async, so services/oauth.py loads everything a request can touch into a `Snapshot` first, runs
the Authlib grant here (pure: no I/O, no clock reads beyond the snapshot's `now`), and then applies the
recorded `Effects` in one transaction. This module never touches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    InvalidRequestError,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge

SCOPE_MOBILE = "mobile:device"
SCOPE_BYOS = "byos"
SUPPORTED_SCOPES = (SCOPE_MOBILE, SCOPE_BYOS)
DEFAULT_SCOPE = SCOPE_MOBILE
ACCESS_TOKEN_PREFIX = "sra_"
REFRESH_TOKEN_PREFIX = "srr_"
ACCESS_TTL = timedelta(days=15)
REFRESH_TTL = timedelta(days=30)
CODE_TTL = timedelta(minutes=2)  # RFC 6749 §4.1.2: "expire shortly after it is issued"
_LOOPBACK_HOSTS = ("127.0.0.1", "::1")
_CLIENT_AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"]


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact match, except loopback redirects match any port (RFC 8252 §7.3) and a Chrome extension's
    `https://<id>.chromiumapp.org/` matches any path below it (chrome.identity.getRedirectURL(path))."""
    if registered == requested:
        return True
    want, got = urlsplit(registered), urlsplit(requested)
    try:
        got.port  # noqa: B018 - a malformed port raises here and is no match
    except ValueError:
        return False
    if (want.scheme == got.scheme == "http" and want.hostname in _LOOPBACK_HOSTS
            and got.hostname == want.hostname and got.username is None):
        return (want.path, want.query) == (got.path, got.query) and not got.fragment
    if want.scheme == got.scheme == "https" and (want.hostname or "").endswith(".chromiumapp.org"):
        return want.netloc == got.netloc and got.path.startswith(want.path or "/") and not got.fragment
    return False


@dataclass(frozen=True)
class ClientRecord(ClientMixin):  # type: ignore[misc]
    pk: int
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    is_public: bool
    secret_hash: str | None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # the redirect_uri is always required, so the token request can be bound to it

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return DEFAULT_SCOPE
        return " ".join(name for name in SUPPORTED_SCOPES if name in scope.split())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(registered, redirect_uri) for registered in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.secret_hash
        return expected is not None and hmac.compare_digest(expected, sha256_hex(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if self.is_public else method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class CodeRecord(AuthorizationCodeMixin):  # type: ignore[misc]
    pk: int
    client_pk: int
    user_id: int
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class RefreshRecord(TokenMixin):  # type: ignore[misc]
    pk: int
    family: str
    client_pk: int
    user_id: int
    scope: str

    def check_client(self, client: ClientRecord) -> bool:
        return client.pk == self.client_pk

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class EndUser:
    id: int


@dataclass
class Effects:
    """What the grant decided; services/oauth.py writes it in one transaction."""

    new_code: tuple[str, CodeRecord] | None = None  # (plain code, record with pk 0)
    issued: dict[str, Any] | None = None  # the token response body
    user_id: int | None = None
    scope: str | None = None
    consumed_code: CodeRecord | None = None
    rotated: RefreshRecord | None = None


@dataclass
class Snapshot:
    """Records loaded before the grant runs (None: not found, or not usable now)."""

    now: datetime
    client: ClientRecord | None
    code: CodeRecord | None = None
    refresh: RefreshRecord | None = None
    effects: Effects = field(default_factory=Effects)


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth2Request over already-parsed query or form pairs (single values; duplicates refused)."""

    def __init__(self, method: str, uri: str, pairs: list[tuple[str, str]], headers: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self._data = dict(pairs)
        self.payload = BasicOAuth2Payload(self._data)
        datalist: dict[str, list[str]] = {}
        for name, value in pairs:
            datalist.setdefault(name, []).append(value)
        self.payload._datalist = datalist

    @property
    def args(self) -> dict[str, str]:
        return self._data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self._data


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only (`plain` refused), required for public clients at the authorization step."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported ('plain' is refused).")
        if grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a PKCE code_challenge (S256).")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS
    server: Server

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        record = CodeRecord(0, request.client.pk, request.user.id, request.payload.redirect_uri,
                            request.scope, data.get("code_challenge"), data.get("code_challenge_method"),
                            self.server.snapshot.now + CODE_TTL)
        self.server.snapshot.effects.new_code = (code, record)

    def query_authorization_code(self, code: str, client: ClientRecord) -> CodeRecord | None:
        found = self.server.snapshot.code
        if found is None or found.client_pk != client.pk or found.expires_at <= self.server.snapshot.now:
            return None
        return found

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        self.server.snapshot.effects.consumed_code = authorization_code

    def authenticate_user(self, authorization_code: CodeRecord) -> EndUser:
        return EndUser(authorization_code.user_id)


class RotatingRefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: Server

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        return self.server.snapshot.refresh

    def authenticate_user(self, refresh_token: RefreshRecord) -> EndUser:
        return EndUser(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        self.server.snapshot.effects.rotated = refresh_token


class Server(AuthorizationServer):  # type: ignore[misc]
    """One Authlib server per request, bound to that request's snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(scopes_supported=list(SUPPORTED_SCOPES))
        self.snapshot = snapshot
        self.register_grant(CodeGrant, [S256Only(required=True)])
        self.register_grant(RotatingRefreshGrant)
        self.register_token_generator("default", self._generate_token)

    def query_client(self, client_id: str) -> ClientRecord | None:
        client = self.snapshot.client
        return client if client is not None and client.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        effects = self.snapshot.effects
        effects.issued, effects.user_id, effects.scope = token, request.user.id, token.get("scope")

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]
                        ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def _generate_token(self, *, grant_type: str, client: ClientRecord, user: EndUser | None = None,
                        scope: str | None = None, expires_in: int | None = None,
                        include_refresh_token: bool = True) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32),
            "expires_in": int(ACCESS_TTL.total_seconds()),
            "scope": scope or DEFAULT_SCOPE,
        }
        if include_refresh_token:
            token["refresh_token"] = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
        return token
