"""Tables of issue 8: OAuth2 clients, codes, token families and browser sessions; BYOS phones, their SIM
cards, and the Twilio MessageSids already handled. Columns only: queries live in the services.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


def _fk(target: str, *, ondelete: str = "CASCADE", nullable: bool = False) -> Mapped[int]:
    return mapped_column(IdType, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class OAuthClient(Base):
    __tablename__ = "oauth_clients"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    redirect_uris: Mapped[list[str]]
    is_public: Mapped[bool] = mapped_column(Boolean)
    # SHA-256 hex of the secret of a confidential client; NULL for a public one (PKCE instead).
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OAuthAuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[int] = _fk("oauth_clients.id")
    user_id: Mapped[int] = _fk("users.id")
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OAuthToken(Base):
    """One access/refresh pair. Rotation makes a new row in the same `family`; reuse revokes the family."""

    __tablename__ = "oauth_tokens"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    client_pk: Mapped[int] = _fk("oauth_clients.id")
    user_id: Mapped[int] = _fk("users.id")
    authorization_code_id: Mapped[int | None] = _fk(
        "oauth_authorization_codes.id", ondelete="SET NULL", nullable=True)
    scope: Mapped[str] = mapped_column(String(255))
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]
    refresh_used_at: Mapped[datetime | None]  # rotated: presenting it again is reuse
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OAuthBrowserSession(Base):
    """The sign-in state behind the `/oauth/authorize` cookie; `user_id` is set once fully signed in."""

    __tablename__ = "oauth_browser_sessions"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = _fk("users.id", nullable=True)
    pending_user_id: Mapped[int | None] = _fk("users.id", nullable=True)  # password ok, TOTP due
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]


class ByosDevice(Base):
    __tablename__ = "byos_devices"
    __table_args__ = (UniqueConstraint("organization_id", "android_id",
                                       name="uq_byos_devices_organization_id_android_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    organization_id: Mapped[int] = _fk("organizations.id")
    user_id: Mapped[int] = _fk("users.id")
    android_id: Mapped[str] = mapped_column(String(16))
    device_name: Mapped[str | None] = mapped_column(String(255))
    device_model: Mapped[str] = mapped_column(String(100))
    app_version: Mapped[str] = mapped_column(String(50))
    phone_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))  # pending_verification | active | disabled | revoked
    is_online: Mapped[bool] = mapped_column(Boolean)
    is_in_doze_mode: Mapped[bool] = mapped_column(Boolean)
    battery_level: Mapped[int | None]
    config_version: Mapped[int]
    last_seen_at: Mapped[datetime | None] = mapped_column(index=True)
    offline_alerted_at: Mapped[datetime | None]  # the one email per outage; cleared by a heartbeat
    # The OAuth token family that registered the device: only it may act as the device.
    oauth_family: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ByosSimCard(Base):
    __tablename__ = "byos_sim_cards"
    __table_args__ = (UniqueConstraint("device_id", "sim_slot", name="uq_byos_sim_cards_device_id_sim_slot"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = _fk("byos_devices.id")
    sim_slot: Mapped[int | None]
    phone_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending | active | inactive
    signal_strength: Mapped[int | None]
    hosted_sim_id: Mapped[int | None] = _fk("hosted_sims.id", ondelete="SET NULL", nullable=True)
    verification_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    verification_expires_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TwilioInbound(Base):
    """Each Twilio MessageSid handled once: a retried webhook finds its row and changes nothing."""

    __tablename__ = "twilio_inbound"
    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32))  # verified | unknown_code | expired_code | no_code
    sim_card_id: Mapped[int | None] = _fk("byos_sim_cards.id", ondelete="SET NULL", nullable=True)
    received_at: Mapped[datetime]
