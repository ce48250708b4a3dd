"""BYOS phones and the OAuth2 server: clients, codes, token families, browser sessions, devices, SIM
cards, and the Twilio MessageSids already handled.

Revision ID: 0007_byos_oauth
Revises: 0006_webhooks
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007_byos_oauth"
down_revision: str | None = "0006_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model edits never rewrite history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[Any]:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _fk(table: str, name: str, target: str, *, ondelete: str = "CASCADE", nullable: bool = False
        ) -> sa.Column[Any]:
    constraint = f"fk_{table}_{name}_{target.split('.', maxsplit=1)[0]}"
    return sa.Column(name, ID, sa.ForeignKey(target, ondelete=ondelete, name=constraint), nullable=nullable)


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, TS, nullable=nullable)


def _index(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    _oauth_tables()
    _byos_tables()


def _oauth_tables() -> None:
    op.create_table(
        "oauth_clients", _id(),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_clients"),
        sa.UniqueConstraint("client_id", name="uq_oauth_clients_client_id"),
    )
    table = "oauth_authorization_codes"
    op.create_table(
        table, _id(),
        sa.Column("code_hash", sa.String(64), nullable=False),
        _fk(table, "client_pk", "oauth_clients.id"),
        _fk(table, "user_id", "users.id"),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=True),
        sa.Column("code_challenge_method", sa.String(8), nullable=True),
        _ts("expires_at"), _ts("used_at", True), _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_authorization_codes"),
        sa.UniqueConstraint("code_hash", name="uq_oauth_authorization_codes_code_hash"),
    )
    _index(table, "client_pk", "user_id")
    table = "oauth_tokens"
    op.create_table(
        table, _id(),
        sa.Column("family", sa.String(64), nullable=False),
        _fk(table, "client_pk", "oauth_clients.id"),
        _fk(table, "user_id", "users.id"),
        _fk(table, "authorization_code_id", "oauth_authorization_codes.id", ondelete="SET NULL",
            nullable=True),
        sa.Column("scope", sa.String(255), nullable=False),
        sa.Column("access_hash", sa.String(64), nullable=False),
        sa.Column("refresh_hash", sa.String(64), nullable=True),
        _ts("access_expires_at"), _ts("refresh_expires_at", True), _ts("refresh_used_at", True),
        _ts("revoked_at", True), _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_tokens"),
        sa.UniqueConstraint("access_hash", name="uq_oauth_tokens_access_hash"),
        sa.UniqueConstraint("refresh_hash", name="uq_oauth_tokens_refresh_hash"),
    )
    _index(table, "family", "client_pk", "user_id", "authorization_code_id")
    table = "oauth_browser_sessions"
    op.create_table(
        table, _id(),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _fk(table, "user_id", "users.id", nullable=True),
        _fk(table, "pending_user_id", "users.id", nullable=True),
        _ts("expires_at"), _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_browser_sessions"),
        sa.UniqueConstraint("session_hash", name="uq_oauth_browser_sessions_session_hash"),
    )
    _index(table, "user_id", "pending_user_id")


def _byos_tables() -> None:
    table = "byos_devices"
    op.create_table(
        table, _id(),
        _fk(table, "organization_id", "organizations.id"),
        _fk(table, "user_id", "users.id"),
        sa.Column("android_id", sa.String(16), nullable=False),
        sa.Column("device_name", sa.String(255), nullable=True),
        sa.Column("device_model", sa.String(100), nullable=False),
        sa.Column("app_version", sa.String(50), nullable=False),
        sa.Column("phone_number", sa.String(32), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("is_online", sa.Boolean(), nullable=False),
        sa.Column("is_in_doze_mode", sa.Boolean(), nullable=False),
        sa.Column("battery_level", sa.Integer(), nullable=True),
        sa.Column("config_version", sa.Integer(), nullable=False),
        _ts("last_seen_at", True), _ts("offline_alerted_at", True),
        sa.Column("oauth_family", sa.String(64), nullable=True), _ts("created_at"), _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_byos_devices"),
        sa.UniqueConstraint("organization_id", "android_id",
                            name="uq_byos_devices_organization_id_android_id"),
    )
    _index(table, "organization_id", "user_id", "last_seen_at")
    table = "byos_sim_cards"
    op.create_table(
        table, _id(),
        _fk(table, "device_id", "byos_devices.id"),
        sa.Column("sim_slot", sa.Integer(), nullable=True),
        sa.Column("phone_number", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signal_strength", sa.Integer(), nullable=True),
        _fk(table, "hosted_sim_id", "hosted_sims.id", ondelete="SET NULL", nullable=True),
        sa.Column("verification_code", sa.String(16), nullable=True),
        _ts("verification_expires_at", True), _ts("verified_at", True), _ts("created_at"), _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_byos_sim_cards"),
        sa.UniqueConstraint("device_id", "sim_slot", name="uq_byos_sim_cards_device_id_sim_slot"),
        sa.UniqueConstraint("verification_code", name="uq_byos_sim_cards_verification_code"),
    )
    _index(table, "device_id", "hosted_sim_id")
    table = "twilio_inbound"
    op.create_table(
        table,
        sa.Column("message_sid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        _fk(table, "sim_card_id", "byos_sim_cards.id", ondelete="SET NULL", nullable=True),
        _ts("received_at"),
        sa.PrimaryKeyConstraint("message_sid", name="pk_twilio_inbound"),
    )
    _index(table, "sim_card_id")


def downgrade() -> None:
    for table in ("twilio_inbound", "byos_sim_cards", "byos_devices", "oauth_browser_sessions",
                  "oauth_tokens", "oauth_authorization_codes", "oauth_clients"):
        op.drop_table(table)
