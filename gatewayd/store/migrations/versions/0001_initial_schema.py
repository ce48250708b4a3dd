"""Initial schema: organisations, teams, users, keys and tokens, hosted SIMs, modems, messages.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model edits never rewrite history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[Any]:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _fk(table: str, name: str, target: str, ondelete: str, nullable: bool = False) -> sa.Column[Any]:
    # Names follow the models' naming convention, so later migrations can drop them on both dialects.
    constraint = f"fk_{table}_{name}_{target.split('.')[0]}"
    return sa.Column(name, ID, sa.ForeignKey(target, ondelete=ondelete, name=constraint), nullable=nullable)


def _table(name: str, *items: sa.Column[Any] | sa.Constraint) -> None:
    op.create_table(name, *items, sa.PrimaryKeyConstraint("id", name=f"pk_{name}"))


def _timestamps() -> list[sa.Column[Any]]:
    return [sa.Column("created_at", TS, nullable=False), sa.Column("updated_at", TS, nullable=False)]


def upgrade() -> None:
    _table(
        "organizations",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("name", name="uq_organizations_name"),
    )
    _table(
        "teams",
        _id(),
        _fk("teams", "organization_id", "organizations.id", "CASCADE"),
        sa.Column("name", sa.String(255), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("organization_id", "name", name="uq_teams_organization_id_name"),
    )
    op.create_index("ix_teams_organization_id", "teams", ["organization_id"])
    _table(
        "users",
        _id(),
        _fk("users", "organization_id", "organizations.id", "CASCADE"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        *_timestamps(),
    )
    op.create_index("ix_users_organization_id", "users", ["organization_id"])
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "team_memberships",
        _fk("team_memberships", "team_id", "teams.id", "CASCADE"),
        _fk("team_memberships", "user_id", "users.id", "CASCADE"),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_memberships"),
    )
    op.create_index("ix_team_memberships_user_id", "team_memberships", ["user_id"])
    _create_credentials()
    _create_sims_and_modems()
    _create_messages()


def _create_credentials() -> None:
    _table(
        "api_keys",
        _id(),
        _fk("api_keys", "organization_id", "organizations.id", "CASCADE"),
        _fk("api_keys", "user_id", "users.id", "CASCADE"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_prefix", sa.String(12), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
    )
    op.create_index("ix_api_keys_organization_id", "api_keys", ["organization_id"])
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    _table(
        "personal_access_tokens",
        _id(),
        _fk("personal_access_tokens", "user_id", "users.id", "CASCADE"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_personal_access_tokens_token_hash"),
    )
    op.create_index("ix_personal_access_tokens_user_id", "personal_access_tokens", ["user_id"])


def _create_sims_and_modems() -> None:
    _table(
        "hosted_sims",
        _id(),
        sa.Column("iccid", sa.String(22), nullable=True),
        sa.Column("imsi", sa.String(15), nullable=True),
        sa.Column("phone_number", sa.String(32), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("provider", sa.String(255), nullable=True),
        sa.Column("signal_strength", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", TS, nullable=True),
        sa.Column("slot", sa.String(64), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("iccid", name="uq_hosted_sims_iccid"),
    )
    _table(
        "sim_assignments",
        _id(),
        _fk("sim_assignments", "hosted_sim_id", "hosted_sims.id", "CASCADE"),
        _fk("sim_assignments", "organization_id", "organizations.id", "CASCADE"),
        _fk("sim_assignments", "team_id", "teams.id", "SET NULL", nullable=True),
        sa.Column("alias", sa.String(255), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("hosted_sim_id", "organization_id", name="uq_sim_assignments_sim_organization"),
    )
    op.create_index("ix_sim_assignments_hosted_sim_id", "sim_assignments", ["hosted_sim_id"])
    op.create_index("ix_sim_assignments_organization_id", "sim_assignments", ["organization_id"])
    op.create_index("ix_sim_assignments_team_id", "sim_assignments", ["team_id"])
    _table(
        "modems",
        _id(),
        sa.Column("imei", sa.String(20), nullable=False),
        sa.Column("port", sa.String(255), nullable=True),
        sa.Column("usb_path", sa.String(255), nullable=True),
        sa.Column("manufacturer", sa.String(255), nullable=True),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("revision", sa.String(255), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("signal_strength", sa.Integer(), nullable=True),
        sa.Column("registration", sa.String(32), nullable=True),
        sa.Column("operator", sa.String(255), nullable=True),
        sa.Column("storage_used", sa.Integer(), nullable=True),
        sa.Column("storage_total", sa.Integer(), nullable=True),
        _fk("modems", "hosted_sim_id", "hosted_sims.id", "SET NULL", nullable=True),
        sa.Column("last_seen_at", TS, nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("imei", name="uq_modems_imei"),
        sa.UniqueConstraint("hosted_sim_id", name="uq_modems_hosted_sim_id"),
    )


def _create_messages() -> None:
    _table(
        "messages",
        _id(),
        _fk("messages", "hosted_sim_id", "hosted_sims.id", "SET NULL", nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("sender", sa.String(64), nullable=True),
        sa.Column("recipient", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("identity_key", sa.String(255), nullable=True),
        sa.Column("concat_reference", sa.Integer(), nullable=True),
        sa.Column("concat_total", sa.Integer(), nullable=True),
        sa.Column("concat_sequence", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("identity_key", name="uq_messages_identity_key"),
    )
    op.create_index(
        "ix_messages_sim_newest",
        "messages",
        ["hosted_sim_id", sa.text("coalesce(received_at, created_at)"), "id"],
    )


def downgrade() -> None:
    for table in (
        "messages",
        "modems",
        "sim_assignments",
        "hosted_sims",
        "personal_access_tokens",
        "api_keys",
        "team_memberships",
        "users",
        "teams",
        "organizations",
    ):
        op.drop_table(table)
