"""Typed SQLAlchemy models: the schema of migration 0001, one class per table.

Models hold columns and constraints only; queries live in repositories and transactions in services.
A SIM's current modem is `Modem.hosted_sim_id` (unique), so there is no circular foreign key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gatewayd.store.types import UtcDateTime

# Stable constraint names: Alembic scripts and both dialects refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


def _id() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _fk(target: str, *, ondelete: str, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(IdType, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(255), unique=True)
    alias: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_teams_organization_id_name"),)
    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TeamMembership(Base):
    __tablename__ = "team_memberships"
    team_id: Mapped[int] = mapped_column(IdType, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    user_id: Mapped[int] = _fk("users.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(255))
    key_prefix: Mapped[str] = mapped_column(String(12))
    # SHA-256 hex of the whole key: keys carry 256 random bits, so a slow hash adds nothing.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[list[str]]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PersonalAccessToken(Base):
    __tablename__ = "personal_access_tokens"
    id: Mapped[int] = _id()
    user_id: Mapped[int] = _fk("users.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class HostedSim(Base):
    __tablename__ = "hosted_sims"
    id: Mapped[int] = _id()
    iccid: Mapped[str | None] = mapped_column(String(22), unique=True)
    imsi: Mapped[str | None] = mapped_column(String(15))
    phone_number: Mapped[str | None] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(16))  # physical | byos
    status: Mapped[str] = mapped_column(String(16))  # active | offline | disabled
    country: Mapped[str | None] = mapped_column(String(2))
    provider: Mapped[str | None] = mapped_column(String(255))
    signal_strength: Mapped[int | None]
    last_seen_at: Mapped[datetime | None]
    slot: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SimAssignment(Base):
    __tablename__ = "sim_assignments"
    __table_args__ = (
        UniqueConstraint("hosted_sim_id", "organization_id", name="uq_sim_assignments_sim_organization"),
    )
    id: Mapped[int] = _id()
    hosted_sim_id: Mapped[int] = _fk("hosted_sims.id", ondelete="CASCADE")
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    team_id: Mapped[int | None] = _fk("teams.id", ondelete="SET NULL", nullable=True)
    alias: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Modem(Base):
    __tablename__ = "modems"
    id: Mapped[int] = _id()
    imei: Mapped[str] = mapped_column(String(20), unique=True)
    port: Mapped[str | None] = mapped_column(String(255))
    usb_path: Mapped[str | None] = mapped_column(String(255))
    manufacturer: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(255))
    revision: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    signal_strength: Mapped[int | None]
    registration: Mapped[str | None] = mapped_column(String(32))
    operator: Mapped[str | None] = mapped_column(String(255))
    storage_used: Mapped[int | None]
    storage_total: Mapped[int | None]
    # Unique: a SIM sits in one modem at a time; the link moves with the SIM.
    hosted_sim_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("hosted_sims.id", ondelete="SET NULL"), unique=True
    )
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = _id()
    hosted_sim_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("hosted_sims.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    sender: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    encoding: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(String(16))
    segments: Mapped[int] = mapped_column(default=1)
    # The dedupe key of an inbound SMS (gatewayd/sms/identity.py); NULL for outbound rows.
    identity_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    concat_reference: Mapped[int | None]
    concat_total: Mapped[int | None]
    concat_sequence: Mapped[int | None]
    created_at: Mapped[datetime]
    # Outbound sending (migration 0003_modem_engine): why it failed, and the retry bookkeeping.
    error: Mapped[str | None] = mapped_column(Text)
    send_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]


# Email is unique whatever its case: "Ada@x.org" and "ada@x.org" are one account.
Index("uq_users_email_lower", func.lower(User.email), unique=True)

# "Newest first per SIM": the page query orders by exactly this expression, then id.
MESSAGE_NEWEST_KEY = func.coalesce(Message.received_at, Message.created_at)
Index("ix_messages_sim_newest", Message.hosted_sim_id, MESSAGE_NEWEST_KEY, Message.id)
Index("ix_messages_outbound_queue", Message.hosted_sim_id, Message.status, Message.id)
