"""Webhook tables: integrations (customer endpoints), mappings (team → integration), the delivery outbox
and its attempt log. Columns and constraints only; queries live in services/webhook* and delivery/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


class WebhookIntegration(Base):
    __tablename__ = "webhook_integrations"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(String(2048))
    headers: Mapped[dict[str, Any]]
    timeout_seconds: Mapped[int]
    retry_count: Mapped[int]
    is_active: Mapped[bool]
    # Fernet token of the signing secret (services/webhooks.SecretBox); the plain secret is never stored.
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookMapping(Base):
    __tablename__ = "webhook_mappings"
    __table_args__ = (
        UniqueConstraint("webhook_integration_id", "team_id", name="uq_webhook_mappings_integration_team"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    webhook_integration_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("webhook_integrations.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int] = mapped_column(IdType, ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    forwarding_mode: Mapped[str] = mapped_column(String(16))  # always | lock_required
    is_active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One event for one integration: the outbox row. `body` is the exact JSON sent on every attempt.

    `pending` rows are due at `next_attempt_at`; a worker's claim moves `next_attempt_at` to the end of
    its lease and sets `claim_token`, so a claim lost with its process is retried once the lease ends.
    """

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    webhook_integration_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("webhook_integrations.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempt: Mapped[int]  # attempts started so far
    next_attempt_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookAttempt(Base):
    """The log of one POST: what came back (status, first KB of the body) or what went wrong."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    webhook_delivery_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int]
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]
    http_status: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


# The worker's claim: due pending rows of one integration, oldest due first.
Index(
    "ix_webhook_deliveries_due",
    WebhookDelivery.status,
    WebhookDelivery.webhook_integration_id,
    WebhookDelivery.next_attempt_at,
)
# The delivery log page: newest first per integration.
Index("ix_webhook_deliveries_log", WebhookDelivery.webhook_integration_id, WebhookDelivery.id)
