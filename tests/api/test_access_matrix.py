"""Who may call what: every route of this area (user, SIMs, API keys, and one route of each other rule) ×
each permission set or OAuth scope × each auth type (personal access token, API key, OAuth token), and
organisation isolation over every route with an id (404 with nothing in it, never 403, never data).

The expectations are written out from ENDPOINTS.md here, not derived from api/permissions.py, so a wrong
entry in the permission table fails this test; where the spec is silent (OAuth scopes) the decision the
code documents is written out instead, and says so."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from api.permissions import access_for
from gatewayd.clock import ManualClock
from gatewayd.services.container import build_services
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import SEEDED_AT, Seeded, World
from tests.api.contract import ApiClient
from tests.api.people import colleague
from tests.api.two_orgs import oauth_tokens

# ENDPOINTS.md: "Sanctum only" endpoints accept personal access tokens and OAuth tokens (whatever their
# scope: the spec names none, so api/permissions.py's USER_TOKEN decision, no scope, is followed), and
# answer API keys with 403.
SANCTUM_ONLY = "sanctum only"
# ENDPOINTS.md: logout "revokes the presented personal access token"; an OAuth token has none to revoke
# (/oauth/revoke, RFC 7009, is its logout), so it is refused like an API key.
PERSONAL_TOKEN = "personal access token"
# ENDPOINTS.md: the BYOS routes take OAuth tokens only (`oauth2_byos`); which scope carries them the spec
# does not say, so api/permissions.py's decision is followed: the `byos` permission of the `byos` scope.
BYOS_DEVICE = "byos"
ANY = "any"
SIM = "{hosted_sim}"
KEY = "{api_key}"

# (method, path, what ENDPOINTS.md demands, JSON body)
ROUTES: list[tuple[str, str, str, object]] = [
    ("GET", "/api/user", ANY, None),
    ("POST", "/api/auth/logout", PERSONAL_TOKEN, None),
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
    # One route of each of the other two rules, so that every scope is tried against every rule.
    ("GET", "/api/webhook-integrations", "webhooks.receive", None),
    ("GET", "/api/byos/devices", BYOS_DEVICE, None),
]
PERMISSION_SETS: list[tuple[str, ...]] = [
    (), ("numbers.read",), ("numbers.lock",), ("messages.read",), ("webhooks.receive",),
    ("numbers.read", "numbers.lock", "messages.read", "webhooks.receive"),
]
# The spec gives OAuth tokens no scopes; these are the ones services/oauth.py documents (SCOPE_PERMISSIONS,
# wire names from oauth_grants), written out so that a change there fails here: `mobile:device` is the
# app's SIM access, `byos` the phone's own routes.
MOBILE = "mobile:device"
BYOS = "byos"
SCOPE_GRANTS: dict[str, tuple[str, ...]] = {
    MOBILE: ("numbers.read", "numbers.lock", "messages.read"),
    BYOS: (BYOS_DEVICE,),
}
OAUTH_SCOPES: list[tuple[str, ...]] = [(MOBILE,), (BYOS,), (MOBILE, BYOS)]
# (auth type, what it was given: an API key's permissions, an OAuth token's scopes, nothing for sanctum)
CALLERS = ([("sanctum", ())] + [("api_key", permissions) for permissions in PERMISSION_SETS]
           + [("oauth", scopes) for scopes in OAUTH_SCOPES])
ALL_AUTH_TYPES = frozenset({"sanctum", "api_key", "oauth"})
# Which auth types ENDPOINTS.md lets past each rule (the permission, if any, is checked after).
ACCEPTED = {PERSONAL_TOKEN: frozenset({"sanctum"}), SANCTUM_ONLY: frozenset({"sanctum", "oauth"}),
            BYOS_DEVICE: frozenset({"oauth"})}


# Routes that hand out a key's power (a new key with the body's permissions, a new secret for the target
# key, which has numbers.read): beyond the route's rule, the caller must hold what it hands out
# (services/api_keys.py: an OAuth token acts within its scopes; a personal access token holds everything).
GRANTS = {("POST", "/api/api-keys"): "numbers.read",
          ("POST", f"/api/api-keys/{KEY}/regenerate"): "numbers.read"}


def holds(auth_type: str, given: tuple[str, ...], permission: str) -> bool:
    if auth_type == "sanctum":
        return True
    if auth_type == "oauth":
        return any(permission in SCOPE_GRANTS[scope] for scope in given)
    return permission in given


def allowed(rule: str, auth_type: str, given: tuple[str, ...]) -> bool:
    if auth_type not in ACCEPTED.get(rule, ALL_AUTH_TYPES):
        return False
    if rule in (ANY, PERSONAL_TOKEN, SANCTUM_ONLY):
        return True  # no permission to hold
    return holds(auth_type, given, rule)


@dataclass(frozen=True)
class OAuthSeeded(Seeded):
    acme_oauth: dict[tuple[str, ...], str]  # scopes → an access token of acme's owner
    globex_oauth: str  # an access token of globex's owner with every scope


@pytest.fixture(scope="module")
def seeded_database(seeded_database: tuple[Path, Seeded],
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OAuthSeeded]:
    """The seeded database plus this module's OAuth tokens (`world` copies it for each test). Minted once:
    a grant is several write transactions, which cost more than the rest of a matrix cell."""
    source, seeded = seeded_database
    path = tmp_path_factory.mktemp("matrix") / "api.db"
    shutil.copyfile(source, path)

    async def mint() -> OAuthSeeded:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            services = build_services(session_factory(engine), ManualClock(SEEDED_AT))
            acme = {scopes: (await oauth_tokens(services, "owner@acme.example", " ".join(scopes)))[0]
                    for scopes in OAUTH_SCOPES}
            globex, _, _ = await oauth_tokens(services, "owner@globex.example", f"{MOBILE} {BYOS}")
            return OAuthSeeded(**asdict(seeded), acme_oauth=acme, globex_oauth=globex)
        finally:
            await engine.dispose()  # checkpoints the WAL into the main file, so one file is the database

    return path, asyncio.run(mint())


async def a_key_id(world: World) -> int:
    """An acme API key that is not the caller's (so deleting it never removes the caller's credential)."""
    view, _ = await world.services.admin.create_api_key(org="acme", user_email="owner@acme.example",
                                                        name="target", permissions=["numbers.read"])
    return view.id


async def caller_token(world: World, seeded: OAuthSeeded, auth_type: str, given: tuple[str, ...]) -> str:
    if auth_type == "sanctum":
        return seeded.acme_token
    if auth_type == "oauth":  # issued through the real authorization-code grant with PKCE
        return seeded.acme_oauth[given]
    permissions = given
    if not permissions:  # a key with no permission cannot be created; use one whose permission is unrelated
        permissions = ("webhooks.receive",)
    _, plain = await world.services.admin.create_api_key(org="acme", user_email="owner@acme.example",
                                                         name="caller", permissions=list(permissions))
    return plain


Route = tuple[str, str, str, object]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
@pytest.mark.parametrize("caller", CALLERS, ids=[f"{a}:{'+'.join(p) or 'none'}" for a, p in CALLERS])
async def test_permission_matrix(api: ApiClient, world: World, seeded_database: tuple[Path, OAuthSeeded],
                                 route: Route, caller: tuple[str, tuple[str, ...]]) -> None:
    (method, path, rule, body), (auth_type, given) = route, caller
    token = await caller_token(world, seeded_database[1], auth_type, given)
    concrete = path.replace(SIM, str(world.seeded.acme_sim)).replace(KEY, str(await a_key_id(world)))
    reply = await api.call(method, concrete, token, **({"json": body} if body is not None else {}))
    granted = GRANTS.get((method, path))
    if allowed(rule, auth_type, given or ("webhooks.receive",)) and (
            granted is None or holds(auth_type, given, granted)):
        assert reply.status not in (401, 403, 404), (reply.status, reply.body)
    else:
        assert reply.status == 403, (reply.status, reply.body)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_the_table_names_the_auth_types_and_permission_of_the_spec(route: Route) -> None:
    """The matrix sees answers only; a service refusing what the table lets in would hide a wrong entry
    (the table also writes the OpenAPI `security` and is what the next route copies)."""
    method, path, rule, _ = route
    access = access_for(method, path)
    expected_permission = None if rule in (ANY, PERSONAL_TOKEN, SANCTUM_ONLY) else rule
    assert (access.auth_types, access.permission) == (ACCEPTED.get(rule, ALL_AUTH_TYPES), expected_permission)


@pytest.mark.parametrize("route", [route for route in ROUTES if "{" in route[1]],
                         ids=[f"{m} {p}" for m, p, *_ in ROUTES if "{" in p])
@pytest.mark.parametrize("caller", ["globex_key", "globex_user", "globex_oauth"])
async def test_other_organisations_get_404_and_nothing_else(api: ApiClient, world: World,
                                                           seeded_database: tuple[Path, OAuthSeeded],
                                                           route: Route, caller: str) -> None:
    method, path, rule, body = route
    if caller == "globex_key" and rule == SANCTUM_ONLY:
        pytest.skip("an API key is refused (403) before any id is looked at, whatever the organisation")
    if caller == "globex_key":
        token = world.seeded.globex_key
    elif caller == "globex_oauth":  # every scope, so every route here lets it in as far as the id
        token = seeded_database[1].globex_oauth
    else:
        token = (await colleague(world, "eve", org="globex")).token
    # Acme's SIM is locked by acme, so a leak through the lock routes would show.
    locked = await api.call("POST", f"/api/sims/{world.seeded.acme_sim}/lock", world.seeded.acme_key)
    assert locked.status == 201
    concrete = path.replace(SIM, str(world.seeded.acme_sim)).replace(KEY, str(await a_key_id(world)))
    reply = await api.call(method, concrete, token, **({"json": body} if body is not None else {}))
    assert (reply.status, reply.body) == (404, {"message": "Not Found."})
