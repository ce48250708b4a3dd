"""`GET /api/user` for each kind of token."""

from __future__ import annotations

from tests.api.conftest import World
from tests.api.contract import ApiClient


async def test_api_key_caller_sees_user_organisation_and_key(api: ApiClient, world: World) -> None:
    reply = await api.get("/api/user", token=world.seeded.acme_numbers_key)
    assert reply.status == 200
    assert reply.body["auth_type"] == "api_key"
    assert reply.body["user"]["email"] == "owner@acme.example"
    assert reply.body["organization"]["name"] == "acme"
    assert reply.body["api_key"]["permissions"] == ["numbers.read"]
    assert world.seeded.acme_numbers_key.startswith(reply.body["api_key"]["key_prefix"])


async def test_personal_token_caller_has_no_api_key(api: ApiClient, world: World) -> None:
    reply = await api.get("/api/user", token=world.seeded.acme_token)
    assert reply.status == 200
    assert (reply.body["auth_type"], reply.body["api_key"]) == ("sanctum", None)
    assert reply.body["user"]["created_at"].endswith("Z")


async def test_other_organisation_sees_only_itself(api: ApiClient, world: World) -> None:
    reply = await api.get("/api/user", token=world.seeded.globex_key)
    assert reply.body["organization"]["name"] == "globex"
