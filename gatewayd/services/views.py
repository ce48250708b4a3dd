"""Frozen views returned by services; the API serialises them. No ORM objects ever leave a service.

Views hold plain values only (no sessions, no lazy loading) and never change after construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

AuthType = Literal["api_key", "sanctum", "oauth"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, their organisation, how they authenticated and what they may do."""

    user_id: int
    organization_id: int
    auth_type: AuthType
    permissions: frozenset[str]
    api_key_id: int | None
    token_id: int | None


@dataclass(frozen=True)
class OrganizationView:
    id: int
    name: str
    alias: str | None


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    email: str
    two_factor_enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    key_prefix: str
    permissions: list[str]
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SimAssignmentView:
    """One organisation a SIM is assigned to; `id` is the organisation's id (as the API shows it)."""

    id: int
    name: str
    alias: str | None
    team_id: int | None


@dataclass(frozen=True)
class SimView:
    id: int
    phone_number: str | None
    status: str
    country: str | None
    provider: str | None
    type: str
    organizations: list[SimAssignmentView]
    teams: list[TeamView]
    messages_received_count: int
    signal_strength: int | None
    last_seen_at: datetime | None
    slot: str | None
    iccid: str | None


@dataclass(frozen=True)
class MessageView:
    id: int
    hosted_sim_id: int | None
    direction: str
    sender: str | None
    recipient: str | None
    text: str | None
    received_at: datetime | None
    sent_at: datetime | None
    status: str | None
    segments: int
    created_at: datetime
    encoding: str
    data_base64: str | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True)
class ModemView:
    id: int
    imei: str
    port: str | None
    usb_path: str | None
    manufacturer: str | None
    model: str | None
    state: str
    signal_strength: int | None
    registration: str | None
    operator: str | None
    storage_used: int | None
    storage_total: int | None
    hosted_sim_id: int | None
    iccid: str | None
    last_seen_at: datetime | None
    pin_state: str | None = None  # modem_health: ready, pin_required, pin_rejected, puk_required, ...
    recovery: str = ""  # modem_health: recovery-ladder steps taken, "reinit 2, reset 1", and the last reason
