"""More callers for API tests: extra users of a seeded organisation, each with a personal access token."""

from __future__ import annotations

from dataclasses import dataclass

from tests.api.conftest import World


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    token: str


async def colleague(world: World, name: str, *, org: str = "acme", team: str | None = "ops") -> Person:
    """A user of `org` (in `team`) without a password, and a personal access token for them."""
    user = await world.services.admin.create_user(org, email=f"{name}@{org}.example", name=name,
                                                  password=None, team=team)
    _, token = await world.services.auth.issue_personal_token(user.id, "test")
    return Person(user.id, name, token)
