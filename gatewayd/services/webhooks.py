"""Webhook integrations and mappings of an organisation: CRUD, validation, secrets, test sends, the log.

Secrets are 32 random bytes (shown once, as 64 hex characters) and are stored only as Fernet tokens
under a server key; they never appear in logs, views other than the create/regenerate answers, or errors.
Everything is scoped to the caller's organisation: another organisation's rows are NotFound.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.config import WebhooksSection
from gatewayd.delivery.destinations import DestinationPolicy, DestinationRefused, check_destination
from gatewayd.delivery.webhook_poster import AttemptOutcome, WebhookPoster
from gatewayd.errors import ConfigError, NotFound, ValidationFailed
from gatewayd.services.accounts import organization_view
from gatewayd.services.views import OrganizationView, Page, Principal
from gatewayd.services.webhook_events import FORWARDING_MODES, WEBHOOK_TEST, envelope, new_event_id
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import Organization, Team
from gatewayd.store.models_webhooks import WebhookAttempt, WebhookDelivery, WebhookIntegration, WebhookMapping

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

SECRET_BYTES = 32
KEY_FILE = "webhook-secret.key"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Ours (the signature and its companions) and the ones the HTTP client must own.
_RESERVED_HEADERS = ("content-type", "content-length", "host", "transfer-encoding", "connection")
MAX_CUSTOM_HEADERS = 50
MAX_HEADER_VALUE = 2048


FERNET_KEY_BYTES = 32  # a Fernet key is 32 random bytes in url-safe base64 (the Fernet spec)


def new_fernet_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(FERNET_KEY_BYTES))


def check_fernet_key(key: bytes) -> None:
    """ValueError unless `key` is a Fernet key; checked by shape, without loading the cipher."""
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError):
        raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.") from None
    if len(raw) != FERNET_KEY_BYTES:
        raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")


class SecretBox:
    """Seals and opens webhook secrets with the server key (Fernet: AES-128-CBC + HMAC-SHA256).

    The key is checked at once; the cipher, and with it the cryptography library (about 8 MiB resident),
    is loaded on the first seal or open, so a daemon without webhook integrations never pays for it.
    """

    def __init__(self, key: bytes) -> None:
        check_fernet_key(key)
        self._key = key
        self._fernet: Fernet | None = None

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            self._fernet = Fernet(self._key)
        return self._fernet

    def seal(self, secret: str) -> bytes:
        return self._cipher().encrypt(secret.encode("utf-8"))

    def open(self, token: bytes) -> str:
        from cryptography.fernet import InvalidToken  # loaded already by _cipher()

        try:
            return self._cipher().decrypt(token).decode("utf-8")
        except InvalidToken:
            raise ConfigError(
                "webhooks",
                "secret_key",
                "cannot decrypt a stored webhook secret: the server key is not the one it was sealed with",
            ) from None


def server_key(configured: str, state_dir: str) -> bytes:
    """The configured Fernet key, else the one generated once into `state_dir` (owner-only file)."""
    if configured:
        try:
            check_fernet_key(configured.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ConfigError(
                "webhooks", "secret_key", "expected a Fernet key (32 url-safe base64 bytes)"
            ) from None
        return configured.encode("ascii")
    path = Path(state_dir) / KEY_FILE
    if path.is_file():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_fernet_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class MappingView:
    id: int
    webhook_integration_id: int
    team_id: int
    forwarding_mode: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IntegrationView:
    id: int
    name: str
    url: str
    headers: dict[str, str]
    timeout_seconds: int
    retry_count: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    mappings: list[MappingView] | None = None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event: str
    event_id: str
    attempt: int
    status: str
    http_status: int | None
    error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    response_time_ms: int | None
    response_body: str | None


@dataclass(frozen=True)
class TestResult:
    success: bool
    http_status: int | None
    response_body: str | None
    response_time_ms: int


@dataclass(frozen=True)
class IntegrationInput:
    """Fields of a create or update; None = not given (PATCH keeps the stored value)."""

    name: str | None = None
    url: str | None = None
    headers: dict[str, Any] | None = None
    timeout_seconds: int | None = None
    retry_count: int | None = None
    is_active: bool | None = None
    given: frozenset[str] = field(default_factory=frozenset)


def check_headers(headers: Any) -> dict[str, str]:
    """A string map of valid header names that does not touch our signature headers."""
    if not isinstance(headers, dict):
        raise ValidationFailed({"headers": ["The headers field must be an object of strings."]})
    problems: list[str] = []
    if len(headers) > MAX_CUSTOM_HEADERS:
        problems.append(f"The headers field may not have more than {MAX_CUSTOM_HEADERS} entries.")
    for name, value in headers.items():
        lowered = str(name).lower()
        if not _HEADER_NAME.match(str(name)):
            problems.append(f"The header name {name!r} is not a valid HTTP header name.")
        elif lowered.startswith("x-simrelay-") or lowered in _RESERVED_HEADERS:
            problems.append(f"The header {name!r} is reserved and may not be overridden.")
        if not isinstance(value, str) or "\r" in value or "\n" in value or len(value) > MAX_HEADER_VALUE:
            problems.append(
                f"The header {name!r} must have a single-line string value of at most "
                f"{MAX_HEADER_VALUE} characters."
            )
    if problems:
        raise ValidationFailed({"headers": problems})
    return {str(name): value for name, value in headers.items()}


def mapping_view(mapping: WebhookMapping) -> MappingView:
    return MappingView(
        mapping.id,
        mapping.webhook_integration_id,
        mapping.team_id,
        mapping.forwarding_mode,
        mapping.is_active,
        mapping.created_at,
        mapping.updated_at,
    )


def integration_view(
    row: WebhookIntegration, mappings: list[WebhookMapping] | None = None
) -> IntegrationView:
    return IntegrationView(
        row.id,
        row.name,
        row.url,
        dict(row.headers),
        row.timeout_seconds,
        row.retry_count,
        row.is_active,
        row.created_at,
        row.updated_at,
        None if mappings is None else [mapping_view(m) for m in mappings],
    )


class WebhookService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        box: SecretBox,
        policy: DestinationPolicy,
        poster: WebhookPoster,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._box = box
        self._policy = policy
        self._poster = poster

    @property
    def secret_box(self) -> SecretBox:
        return self._box

    async def _check_url(self, url: str) -> str:
        try:
            await check_destination(url, self._policy)
        except DestinationRefused as exc:
            raise ValidationFailed(
                {"url": [f"The url is not an allowed webhook destination: {exc}."]}
            ) from None
        return url

    async def list(self, principal: Principal) -> tuple[list[IntegrationView], OrganizationView]:
        async with read_transaction(self._sessions) as session:
            rows = await session.scalars(
                select(WebhookIntegration)
                .where(WebhookIntegration.organization_id == principal.organization_id)
                .order_by(WebhookIntegration.id)
            )
            organization = await session.get(Organization, principal.organization_id)
            assert organization is not None  # the principal was authenticated against it
            return [integration_view(row) for row in rows], organization_view(organization)

    async def create(self, principal: Principal, data: IntegrationInput) -> tuple[IntegrationView, str]:
        if data.name is None or data.url is None:
            raise ValueError("create needs name and url (the API validates them)")
        url = await self._check_url(data.url)
        headers = check_headers(data.headers or {})
        secret = secrets.token_hex(SECRET_BYTES)
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            row = WebhookIntegration(
                organization_id=principal.organization_id,
                name=data.name,
                url=url,
                headers=headers,
                timeout_seconds=data.timeout_seconds or 30,
                retry_count=3 if data.retry_count is None else data.retry_count,
                is_active=True if data.is_active is None else data.is_active,
                secret_ciphertext=self._box.seal(secret),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return integration_view(row, []), secret

    async def get(self, principal: Principal, integration_id: int) -> IntegrationView:
        async with read_transaction(self._sessions) as session:
            row = await _integration(session, principal, integration_id)
            return integration_view(row, await _mappings(session, integration_id))

    async def update(
        self, principal: Principal, integration_id: int, data: IntegrationInput
    ) -> IntegrationView:
        url = await self._check_url(data.url) if data.url is not None else None
        headers = check_headers(data.headers) if data.headers is not None else None
        async with write_transaction(self._sessions) as session:
            row = await _integration(session, principal, integration_id)
            for name, value in (
                ("name", data.name),
                ("url", url),
                ("headers", headers),
                ("timeout_seconds", data.timeout_seconds),
                ("retry_count", data.retry_count),
                ("is_active", data.is_active),
            ):
                if value is not None:
                    setattr(row, name, value)
            row.updated_at = self._clock.now()
            await session.flush()
            return integration_view(row, await _mappings(session, integration_id))

    async def delete(self, principal: Principal, integration_id: int) -> None:
        async with write_transaction(self._sessions) as session:
            row = await _integration(session, principal, integration_id)
            # Explicit: SQLite enforces ON DELETE CASCADE only with foreign_keys=ON (we set it, but
            # deleting the mappings here does not depend on it).
            await session.execute(
                delete(WebhookMapping).where(WebhookMapping.webhook_integration_id == row.id)
            )
            await session.delete(row)

    async def regenerate_secret(
        self, principal: Principal, integration_id: int
    ) -> tuple[IntegrationView, str]:
        secret = secrets.token_hex(SECRET_BYTES)
        async with write_transaction(self._sessions) as session:
            row = await _integration(session, principal, integration_id)
            row.secret_ciphertext = self._box.seal(secret)
            row.updated_at = self._clock.now()
            return integration_view(row), secret

    async def send_test(self, principal: Principal, integration_id: int) -> TestResult:
        """POST a signed `webhook.test` now (whatever is_active says) and log it as a delivery."""
        async with read_transaction(self._sessions) as session:
            row = await _integration(session, principal, integration_id)
        now = self._clock.now()
        event_id = new_event_id()
        body = envelope(
            WEBHOOK_TEST,
            event_id,
            now,
            {"webhook_integration_id": row.id, "message": "This is a test event from SimRelay."},
        )
        outcome = await self._poster.post(
            row.url,
            body,
            self._box.open(row.secret_ciphertext),
            event=WEBHOOK_TEST,
            event_id=event_id,
            custom_headers=dict(row.headers),
            timeout_s=row.timeout_seconds,
            sent_at=now,
        )
        await self._log_test(row.id, event_id, body, now, outcome)
        return TestResult(outcome.success, outcome.http_status, outcome.response_excerpt, outcome.duration_ms)

    async def _log_test(
        self, integration_id: int, event_id: str, body: str, now: datetime, outcome: AttemptOutcome
    ) -> None:
        async with write_transaction(self._sessions) as session:
            delivery = WebhookDelivery(
                webhook_integration_id=integration_id,
                event=WEBHOOK_TEST,
                event_id=event_id,
                body=body,
                status="delivered" if outcome.success else "failed",
                attempt=1,
                next_attempt_at=None,
                http_status=outcome.http_status,
                error=outcome.error,
                delivered_at=now if outcome.success else None,
                created_at=now,
                updated_at=now,
            )
            session.add(delivery)
            await session.flush()
            session.add(
                WebhookAttempt(
                    webhook_delivery_id=delivery.id,
                    attempt=1,
                    started_at=now,
                    duration_ms=outcome.duration_ms,
                    http_status=outcome.http_status,
                    response_excerpt=outcome.response_excerpt,
                    error=outcome.error,
                )
            )

    async def deliveries(
        self, principal: Principal, integration_id: int, *, page: int, per_page: int
    ) -> Page[DeliveryView]:
        async with read_transaction(self._sessions) as session:
            await _integration(session, principal, integration_id)
            where = WebhookDelivery.webhook_integration_id == integration_id
            total = await session.scalar(select(func.count(WebhookDelivery.id)).where(where)) or 0
            rows = list(
                await session.scalars(
                    select(WebhookDelivery)
                    .where(where)
                    .order_by(WebhookDelivery.id.desc())
                    .offset((page - 1) * per_page)
                    .limit(per_page)
                )
            )
            last = await _last_attempts(session, [row.id for row in rows])
        return Page([_delivery_view(row, last.get(row.id)) for row in rows], total, page, per_page)

    # -- mappings ---------------------------------------------------------------------------------------

    async def list_mappings(
        self, principal: Principal, integration_id: int
    ) -> tuple[list[MappingView], IntegrationView]:
        async with read_transaction(self._sessions) as session:
            row = await _integration(session, principal, integration_id)
            mappings = await _mappings(session, integration_id)
            return [mapping_view(m) for m in mappings], integration_view(row)

    async def create_mapping(
        self, principal: Principal, integration_id: int, *, team_id: int, forwarding_mode: str
    ) -> MappingView:
        _check_mode(forwarding_mode)
        now = self._clock.now()
        try:
            async with write_transaction(self._sessions) as session:
                await _integration(session, principal, integration_id)
                team = await session.get(Team, team_id)
                if team is None or team.organization_id != principal.organization_id:
                    raise ValidationFailed({"team_id": ["The selected team id is invalid."]})
                mapping = WebhookMapping(
                    webhook_integration_id=integration_id,
                    team_id=team_id,
                    forwarding_mode=forwarding_mode,
                    is_active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(mapping)
                await session.flush()
                return mapping_view(mapping)
        except IntegrityError:
            raise ValidationFailed({"team_id": ["This team is already mapped to the integration."]}) from None

    async def get_mapping(self, principal: Principal, integration_id: int, mapping_id: int) -> MappingView:
        async with read_transaction(self._sessions) as session:
            return mapping_view(await _mapping(session, principal, integration_id, mapping_id))

    async def update_mapping(
        self,
        principal: Principal,
        integration_id: int,
        mapping_id: int,
        *,
        forwarding_mode: str | None,
        is_active: bool | None,
    ) -> MappingView:
        if forwarding_mode is not None:
            _check_mode(forwarding_mode)
        async with write_transaction(self._sessions) as session:
            mapping = await _mapping(session, principal, integration_id, mapping_id)
            if forwarding_mode is not None:
                mapping.forwarding_mode = forwarding_mode
            if is_active is not None:
                mapping.is_active = is_active
            mapping.updated_at = self._clock.now()
            return mapping_view(mapping)

    async def delete_mapping(self, principal: Principal, integration_id: int, mapping_id: int) -> None:
        async with write_transaction(self._sessions) as session:
            await session.delete(await _mapping(session, principal, integration_id, mapping_id))


def _check_mode(mode: str) -> None:
    if mode not in FORWARDING_MODES:
        raise ValidationFailed({"forwarding_mode": ["The selected forwarding mode is invalid."]})


async def _integration(
    session: AsyncSession, principal: Principal, integration_id: int
) -> WebhookIntegration:
    row = await session.get(WebhookIntegration, integration_id)
    if row is None or row.organization_id != principal.organization_id:
        raise NotFound(f"No webhook integration {integration_id}.")
    return row


async def _mappings(session: AsyncSession, integration_id: int) -> list[WebhookMapping]:
    rows = await session.scalars(
        select(WebhookMapping)
        .where(WebhookMapping.webhook_integration_id == integration_id)
        .order_by(WebhookMapping.id)
    )
    return list(rows)


async def _mapping(
    session: AsyncSession, principal: Principal, integration_id: int, mapping_id: int
) -> WebhookMapping:
    await _integration(session, principal, integration_id)
    mapping = await session.get(WebhookMapping, mapping_id)
    if mapping is None or mapping.webhook_integration_id != integration_id:
        raise NotFound(f"No webhook mapping {mapping_id} on integration {integration_id}.")
    return mapping


async def _last_attempts(session: AsyncSession, delivery_ids: list[int]) -> dict[int, WebhookAttempt]:
    if not delivery_ids:
        return {}
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.webhook_delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id)
    )
    return {row.webhook_delivery_id: row for row in rows}  # later attempts overwrite earlier ones


def _delivery_view(row: WebhookDelivery, last: WebhookAttempt | None) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.event,
        row.event_id,
        row.attempt,
        row.status,
        row.http_status,
        row.error,
        row.next_attempt_at if row.status == "pending" else None,
        row.delivered_at,
        row.created_at,
        last.duration_ms if last else None,
        last.response_excerpt if last else None,
    )


@dataclass(frozen=True)
class WebhookOptions:
    """What the webhook service needs from configuration: the server key and the destination policy."""

    server_key: bytes
    policy: DestinationPolicy


def build_webhook_service(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, options: WebhookOptions | None
) -> WebhookService:
    """Without options (tests that do not use webhooks) the key is random: secrets sealed under it cannot
    be read by another process, and private networks are refused."""
    if options is None:
        options = WebhookOptions(new_fernet_key(), DestinationPolicy())
    box = SecretBox(options.server_key)
    return WebhookService(sessions, clock, box, options.policy, WebhookPoster(options.policy))


def webhook_options(section: WebhooksSection) -> WebhookOptions:
    """Options from the `[webhooks]` settings: the configured or state-file key, and the policy."""
    policy = DestinationPolicy(section.allow_private_networks, section.allow_http)
    return WebhookOptions(server_key(section.secret_key, section.state_dir), policy)
