"""Webhooks: integrations, team mappings, the delivery outbox and its attempt log.

Revision ID: 0006_webhooks
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_webhooks"
down_revision: str | None = "0004_rack"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model edits never rewrite history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[Any]:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _fk(table: str, name: str, target: str) -> sa.Column[Any]:
    # op.f: a convention name, which PostgreSQL gets truncated with a hash past 63 characters, as the model does.
    constraint = op.f(f"fk_{table}_{name}_{target.split('.')[0]}")
    return sa.Column(name, ID, sa.ForeignKey(target, ondelete="CASCADE", name=constraint), nullable=False)


def upgrade() -> None:
    op.create_table(
        "webhook_integrations",
        _id(),
        _fk("webhook_integrations", "organization_id", "organizations.id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_integrations"),
    )
    op.create_index("ix_webhook_integrations_organization_id", "webhook_integrations", ["organization_id"])
    op.create_table(
        "webhook_mappings",
        _id(),
        _fk("webhook_mappings", "webhook_integration_id", "webhook_integrations.id"),
        _fk("webhook_mappings", "team_id", "teams.id"),
        sa.Column("forwarding_mode", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_mappings"),
        sa.UniqueConstraint("webhook_integration_id", "team_id", name="uq_webhook_mappings_integration_team"),
    )
    op.create_index("ix_webhook_mappings_webhook_integration_id", "webhook_mappings", ["webhook_integration_id"])
    op.create_index("ix_webhook_mappings_team_id", "webhook_mappings", ["team_id"])
    op.create_table(
        "webhook_deliveries",
        _id(),
        _fk("webhook_deliveries", "webhook_integration_id", "webhook_integrations.id"),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_integration_id", "webhook_deliveries", ["webhook_integration_id"]
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["status", "webhook_integration_id", "next_attempt_at"],
    )
    op.create_index("ix_webhook_deliveries_log", "webhook_deliveries", ["webhook_integration_id", "id"])
    op.create_table(
        "webhook_attempts",
        _id(),
        _fk("webhook_attempts", "webhook_delivery_id", "webhook_deliveries.id"),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_webhook_delivery_id", "webhook_attempts", ["webhook_delivery_id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_mappings")
    op.drop_table("webhook_integrations")
