"""The API key permission enum of the SimRelay reference, and its validation.

Pure: no database access.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from gatewayd.errors import ValidationFailed


class Permission(StrEnum):
    NUMBERS_READ = "numbers.read"
    NUMBERS_LOCK = "numbers.lock"
    MESSAGES_READ = "messages.read"
    WEBHOOKS_RECEIVE = "webhooks.receive"


ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)


def validated_permissions(requested: Iterable[str], field: str = "permissions") -> list[str]:
    """The requested permissions, deduplicated in enum order; unknown names fail with the offender named."""
    names = [name.strip() for name in requested]
    unknown = sorted({name for name in names if name not in ALL_PERMISSIONS})
    if unknown:
        allowed = ", ".join(p.value for p in Permission)
        raise ValidationFailed({field: [f"Unknown permission(s) {', '.join(unknown)}; allowed: {allowed}."]})
    if not names:
        raise ValidationFailed({field: ["At least one permission is required."]})
    return [p.value for p in Permission if p.value in names]
