"""Who may call what: every route of this area × each permission set × each auth type we can issue, and
organisation isolation over every route with an id (404 with nothing in it, never 403, never data).

The expectations are written out from ENDPOINTS.md here, not derived from api/permissions.py, so a wrong
entry in the permission table fails this test."""

from __future__ import annotations

import pytest

from tests.api.conftest import World
from tests.api.contract import ApiClient
from tests.api.people import colleague

SANCTUM_ONLY = "sanctum only"
ANY = "any"
SIM = "{sim}"
KEY = "{key}"

# (method, path, what ENDPOINTS.md demands, JSON body)
ROUTES: list[tuple[str, str, str, object]] = [
    ("GET", "/api/user", ANY, None),
    ("POST", "/api/auth/logout", SANCTUM_ONLY, None),
    ("GET", "/api/sims", "numbers.read", None),
    ("GET", f"/api/sims/{SIM}", "numbers.read", None),
    ("POST", f"/api/sims/{SIM}/lock", "numbers.lock", {}),
    ("GET", f"/api/sims/{SIM}/lock", "numbers.read", None),
    ("DELETE", f"/api/sims/{SIM}/lock", "numbers.lock", None),
    ("GET", f"/api/sims/{SIM}/messages", "messages.read", None),
    ("POST", f"/api/sims/{SIM}/messages", "numbers.lock", {"to": "+447911123456", "text": "hi"}),
    ("GET", "/api/api-keys", SANCTUM_ONLY, None),
    ("POST", "/api/api-keys", SANCTUM_ONLY, {"name": "n", "permissions": ["numbers.read"]}),
    ("GET", f"/api/api-keys/{KEY}", SANCTUM_ONLY, None),
    ("PUT", f"/api/api-keys/{KEY}", SANCTUM_ONLY, {"name": "renamed"}),
    ("PATCH", f"/api/api-keys/{KEY}", SANCTUM_ONLY, {"name": "renamed"}),
    ("DELETE", f"/api/api-keys/{KEY}", SANCTUM_ONLY, None),
    ("POST", f"/api/api-keys/{KEY}/regenerate", SANCTUM_ONLY, None),
]
PERMISSION_SETS: list[tuple[str, ...]] = [
    (), ("numbers.read",), ("numbers.lock",), ("messages.read",), ("webhooks.receive",),
    ("numbers.read", "numbers.lock", "messages.read", "webhooks.receive"),
]
CALLERS = [("sanctum", ())] + [("api_key", permissions) for permissions in PERMISSION_SETS]


def allowed(rule: str, auth_type: str, permissions: tuple[str, ...]) -> bool:
    if rule == SANCTUM_ONLY:
        return auth_type == "sanctum"
    return rule == ANY or auth_type == "sanctum" or rule in permissions


async def a_key_id(world: World) -> int:
    """An acme API key that is not the caller's (so deleting it never removes the caller's credential)."""
    view, _ = await world.services.admin.create_api_key(org="acme", user_email="owner@acme.example",
                                                        name="target", permissions=["numbers.read"])
    return view.id


async def caller_token(world: World, auth_type: str, permissions: tuple[str, ...]) -> str:
    if auth_type == "sanctum":
        return world.seeded.acme_token
    if not permissions:  # a key with no permission cannot be created; use one whose permission is unrelated
        permissions = ("webhooks.receive",)
    _, plain = await world.services.admin.create_api_key(org="acme", user_email="owner@acme.example",
                                                         name="caller", permissions=list(permissions))
    return plain


Route = tuple[str, str, str, object]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
@pytest.mark.parametrize("caller", CALLERS, ids=[f"{a}:{'+'.join(p) or 'none'}" for a, p in CALLERS])
async def test_permission_matrix(api: ApiClient, world: World, route: Route,
                                 caller: tuple[str, tuple[str, ...]]) -> None:
    (method, path, rule, body), (auth_type, permissions) = route, caller
    token = await caller_token(world, auth_type, permissions)
    concrete = path.replace(SIM, str(world.seeded.acme_sim)).replace(KEY, str(await a_key_id(world)))
    reply = await api.call(method, concrete, token, **({"json": body} if body is not None else {}))
    if allowed(rule, auth_type, permissions or ("webhooks.receive",)):
        assert reply.status not in (401, 403, 404), (reply.status, reply.body)
    else:
        assert reply.status == 403, (reply.status, reply.body)


@pytest.mark.parametrize("route", [route for route in ROUTES if "{" in route[1]],
                         ids=[f"{m} {p}" for m, p, *_ in ROUTES if "{" in p])
@pytest.mark.parametrize("caller", ["globex_key", "globex_user"])
async def test_other_organisations_get_404_and_nothing_else(api: ApiClient, world: World, route: Route,
                                                           caller: str) -> None:
    method, path, rule, body = route
    if caller == "globex_key" and rule == SANCTUM_ONLY:
        pytest.skip("an API key is refused (403) before any id is looked at, whatever the organisation")
    token = world.seeded.globex_key if caller == "globex_key" else (
        await colleague(world, "eve", org="globex")).token
    # Acme's SIM is locked by acme, so a leak through the lock routes would show.
    locked = await api.call("POST", f"/api/sims/{world.seeded.acme_sim}/lock", world.seeded.acme_key)
    assert locked.status == 201
    concrete = path.replace(SIM, str(world.seeded.acme_sim)).replace(KEY, str(await a_key_id(world)))
    reply = await api.call(method, concrete, token, **({"json": body} if body is not None else {}))
    assert (reply.status, reply.body) == (404, {"message": "Not Found."})
