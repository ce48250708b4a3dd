"""Settings and frozen views of the BYOS devices service (what the API serialises). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gatewayd.errors import ConfigError
from gatewayd.services.views import OrganizationView
from gatewayd.store.models import Organization
from gatewayd.store.models_byos import ByosDevice, ByosSimCard

ACTIVE, DISABLED, REVOKED, PENDING_VERIFICATION = "active", "disabled", "revoked", "pending_verification"
DEVICE_STATUSES = (ACTIVE, DISABLED, REVOKED, PENDING_VERIFICATION)

@dataclass(frozen=True)
class ByosOptions:
    """The `[byos]` settings: the Twilio number codes are sent to, intervals and offline timeouts."""

    twilio_number: str | None = None
    twilio_auth_token: str | None = None  # None: every webhook call is refused (403)
    public_url: str | None = None  # the webhook URL as Twilio calls it (behind a proxy), for the signature
    heartbeat_interval_s: int = 300
    offline_after_s: int = 360
    doze_offline_after_s: int = 960
    alert_after_missed: int = 2  # the owner's email waits for this many missed timeouts in a row
    code_ttl_s: int = 300
    sweep_interval_s: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "heartbeat_interval_s",
            "offline_after_s",
            "doze_offline_after_s",
            "alert_after_missed",
            "code_ttl_s",
        ):
            if getattr(self, name) < 1:
                raise ConfigError("ByosOptions", name, f"must be at least 1, got {getattr(self, name)}")
        if self.sweep_interval_s <= 0:
            raise ConfigError(
                "ByosOptions", "sweep_interval_s", f"must be positive, got {self.sweep_interval_s}"
            )

    def timeout_s(self, in_doze_mode: bool) -> int:
        return self.doze_offline_after_s if in_doze_mode else self.offline_after_s


@dataclass(frozen=True)
class SimCardView:
    id: int
    phone_number: str | None
    sim_slot: int | None
    status: str
    signal_strength: int | None
    hosted_sim_id: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PendingSimCardView:
    id: int
    sim_slot: int | None
    phone_number: str | None
    status: str
    verification_code: str
    twilio_number: str | None


@dataclass(frozen=True)
class DeviceView:
    id: int
    organization_id: int
    android_id: str
    phone_number: str | None
    device_name: str | None
    device_model: str
    app_version: str
    status: str
    is_online: bool
    twilio_number: str | None
    sim_cards: list[SimCardView]
    config_version: int
    battery_level: int | None
    last_seen_at: datetime | None
    messages_received_count: int
    organization: OrganizationView
    created_at: datetime
    updated_at: datetime
    pending: list[PendingSimCardView] = field(default_factory=list)  # codes, right after registration


def sim_card_view(card: ByosSimCard) -> SimCardView:
    return SimCardView(
        card.id,
        card.phone_number,
        card.sim_slot,
        card.status,
        card.signal_strength,
        card.hosted_sim_id,
        card.created_at,
        card.updated_at,
    )


def pending_view(card: ByosSimCard, twilio_number: str | None) -> PendingSimCardView:
    assert card.verification_code is not None
    return PendingSimCardView(
        card.id, card.sim_slot, card.phone_number, card.status, card.verification_code, twilio_number
    )


def device_view(
    device: ByosDevice,
    cards: list[ByosSimCard],
    organization: Organization,
    messages: int,
    twilio_number: str | None,
) -> DeviceView:
    return DeviceView(
        id=device.id,
        organization_id=device.organization_id,
        android_id=device.android_id,
        phone_number=device.phone_number,
        device_name=device.device_name,
        device_model=device.device_model,
        app_version=device.app_version,
        status=device.status,
        is_online=device.is_online,
        twilio_number=twilio_number,
        sim_cards=[sim_card_view(card) for card in cards],
        config_version=device.config_version,
        battery_level=device.battery_level,
        last_seen_at=device.last_seen_at,
        messages_received_count=messages,
        organization=OrganizationView(organization.id, organization.name, organization.alias),
        created_at=device.created_at,
        updated_at=device.updated_at,
    )
