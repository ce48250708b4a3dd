"""Serialisers from service views to the JSON objects of the published API (field names as clients read them).

Pure functions; timestamps become ISO 8601 UTC with a `Z`. No business rules and no I/O here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gatewayd.services.views import (
    ApiKeyView,
    MessageView,
    OrganizationView,
    SimAssignmentView,
    SimView,
    TeamView,
    UserView,
)

JsonObject = dict[str, Any]


def iso_utc(moment: datetime | None) -> str | None:
    """`2026-05-11T14:30:00Z`: whole seconds, UTC, with a Z, as the published samples show.

    A naive datetime is taken as UTC: that is how the store keeps every timestamp.
    """
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(user: UserView) -> JsonObject:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "two_factor_enabled": user.two_factor_enabled,
        "created_at": iso_utc(user.created_at),
        "updated_at": iso_utc(user.updated_at),
    }


def organization_json(organization: OrganizationView) -> JsonObject:
    return {"id": organization.id, "name": organization.name, "alias": organization.alias}


def team_json(team: TeamView) -> JsonObject:
    return {"id": team.id, "name": team.name}


def api_key_json(key: ApiKeyView) -> JsonObject:
    return {
        "id": key.id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "permissions": list(key.permissions),
        "last_used_at": iso_utc(key.last_used_at),
        "created_at": iso_utc(key.created_at),
        "updated_at": iso_utc(key.updated_at),
    }


def sim_assignment_json(assignment: SimAssignmentView) -> JsonObject:
    return {"id": assignment.id, "name": assignment.name, "alias": assignment.alias,
            "team_id": assignment.team_id}


def sim_json(sim: SimView) -> JsonObject:
    return {
        "id": sim.id,
        "phone_number": sim.phone_number,
        # The SimRelay clients read the number under this name (ENDPOINTS.md, Objects).
        "seven_system_number": sim.phone_number,
        "status": sim.status,
        "country": sim.country,
        "provider": sim.provider,
        "type": sim.type,
        "organizations": [sim_assignment_json(assignment) for assignment in sim.organizations],
        "teams": [team_json(team) for team in sim.teams],
        "messages_received_count": sim.messages_received_count,
        "signal_strength": sim.signal_strength,
        "last_seen_at": iso_utc(sim.last_seen_at),
        "slot": sim.slot,
        "iccid": sim.iccid,
    }


def message_json(message: MessageView) -> JsonObject:
    return {
        "id": message.id,
        "hosted_sim_id": message.hosted_sim_id,
        "direction": message.direction,
        "from": message.sender,
        "to": message.recipient,
        "text": message.text,
        "received_at": iso_utc(message.received_at),
        "sent_at": iso_utc(message.sent_at),
        "status": message.status,
        "segments": message.segments,
        "created_at": iso_utc(message.created_at),
        "encoding": message.encoding,
        "data_base64": message.data_base64,
    }


def current_user_json(user: UserView, organization: OrganizationView, api_key: ApiKeyView | None,
                      auth_type: str) -> JsonObject:
    return {
        "user": user_json(user),
        "auth_type": auth_type,
        "organization": organization_json(organization),
        "api_key": api_key_json(api_key) if api_key is not None else None,
    }
