"""Bearer authentication and the permission table on every walking-skeleton route."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.auth_middleware import MAX_TOKEN_CHARS, bearer_token
from tests.api.conftest import World
from tests.api.contract import ApiClient

PROTECTED = ["/api/user", "/api/sims", "/api/sims/{sim}", "/api/sims/{sim}/messages"]


def concrete(path: str, world: World) -> str:
    return path.replace("{sim}", str(world.seeded.acme_sim))


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer two words", "Bearer sk_live_unknown",
     "Bearer 99|not-a-secret", "Bearer " + "x" * (MAX_TOKEN_CHARS + 1), "Bearer caf\u00e9"],
)
async def test_missing_garbled_or_unknown_token_is_401(api: ApiClient, world: World, path: str,
                                                       authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = await api.get(concrete(path, world), headers=headers)
    assert (reply.status, reply.body) == (401, {"message": "Unauthenticated."})


async def test_public_routes_ignore_a_bad_token(api: ApiClient) -> None:
    reply = await api.get("/api/health", token="garbage")
    assert reply.status == 200


@pytest.mark.parametrize(
    ("path", "permission"),
    [("/api/sims", "numbers.read"), ("/api/sims/{sim}", "numbers.read"),
     ("/api/sims/{sim}/messages", "messages.read")],
)
async def test_key_without_the_permission_is_403(api: ApiClient, world: World, path: str,
                                                 permission: str) -> None:
    key = world.seeded.acme_messages_key if permission == "numbers.read" else world.seeded.acme_numbers_key
    reply = await api.get(concrete(path, world), token=key)
    assert reply.status == 403
    assert permission in reply.body["message"]


async def test_key_with_the_permission_passes(api: ApiClient, world: World) -> None:
    assert (await api.get("/api/sims", token=world.seeded.acme_numbers_key)).status == 200
    messages = f"/api/sims/{world.seeded.acme_sim}/messages"
    assert (await api.get(messages, token=world.seeded.acme_messages_key)).status == 200


async def test_scheme_is_case_insensitive(api: ApiClient, world: World) -> None:
    reply = await api.get("/api/user", headers={"Authorization": f"bearer {world.seeded.acme_key}"})
    assert reply.status == 200


@given(st.text(max_size=80))
def test_bearer_parsing_never_raises_and_yields_one_printable_word(header: str) -> None:
    token = bearer_token(header)
    if token is not None:
        assert token and all("\x21" <= char <= "\x7e" for char in token)
        assert header.lower().startswith("bearer ")
