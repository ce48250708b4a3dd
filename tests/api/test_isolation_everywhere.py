"""Organisation isolation over every route of api/permissions.ROUTE_ACCESS: a caller of globex using any of
acme's ids gets exactly `404 {"message": "Not Found."}` with every auth type the route accepts, and lists
show none of acme's objects. Routes come from the table, so a new route fails here until it has a fixture.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.permissions import ROUTE_ACCESS
from tests.api.conftest import ClientFactory, Seeded
from tests.api.contract import Contract
from tests.api.two_orgs import (
    Audit,
    Cast,
    build_template,
    caller_token,
    can_hold,
    fill,
    open_audit,
    org_ids,
    valid_body,
)

NOT_FOUND = {"message": "Not Found."}
# Routes with an id that no organisation owns: the Pusher app key/id and channel names are the deployment's.
NOT_ORGANISATION_SCOPED = {"key", "app_id", "channel_name"}


@pytest.fixture(scope="session")
def audit_template(seeded_database: tuple[Path, Seeded],
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cast]:
    return build_template(seeded_database, tmp_path_factory.mktemp("audit"))


@pytest.fixture
async def audit(audit_template: tuple[Path, Cast], tmp_path: Path, contract: Contract,
                aiohttp_client: ClientFactory) -> AsyncIterator[Audit]:
    async with open_audit(audit_template, tmp_path, contract, aiohttp_client) as opened:
        yield opened


def id_routes() -> Iterator[Any]:
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        params = {part[1:-1] for part in template.split("/") if part.startswith("{")}
        if not params or params <= NOT_ORGANISATION_SCOPED:
            continue
        for auth_type in sorted(access.auth_types):
            if can_hold(auth_type, access.permission):  # otherwise a 403 before any id (test_denials)
                yield pytest.param(method, template, auth_type, id=f"{auth_type} {method} {template}")


@pytest.mark.parametrize(("method", "template", "auth_type"), list(id_routes()))
async def test_other_organisations_ids_are_404_with_nothing_in_them(audit: Audit, method: str, template: str,
                                                                   auth_type: str) -> None:
    a, b = audit.cast.a, audit.cast.b
    access = ROUTE_ACCESS[(method, template)]
    assert access.needs_bearer, f"{method} {template} takes an organisation's id without a bearer token"
    token = caller_token(b, auth_type, access.permission)
    if token is None:
        pytest.skip(f"a {auth_type} token never holds {access.permission}: refused with 403 before any id")
    names = {part[1:-1] for part in template.split("/") if part.startswith("{")}
    missing = names - set(org_ids(a))
    assert not missing, f"{method} {template}: no acme fixture for {missing}; add it to org_ids()"
    path = fill(template, org_ids(a))
    body = valid_body(method, template, b)
    reply = await audit.raw.request(method, path, headers={"Authorization": f"Bearer {token}"},
                                    **({"json": body} if body is not None else {}))
    text = await reply.text()
    assert (reply.status, json.loads(text) if reply.content_type == "application/json" else text) == (
        404, NOT_FOUND), f"{auth_type} of globex: {method} {path} leaked acme's object"


@pytest.mark.parametrize(("method", "template", "auth_type"), list(id_routes()))
async def test_the_owner_reaches_the_same_ids(audit: Audit, method: str, template: str,
                                              auth_type: str) -> None:
    """The control: with acme's own credential the same request is served, so the 404s above are about the
    organisation and not about a wrong fixture."""
    a = audit.cast.a
    token = caller_token(a, auth_type, ROUTE_ACCESS[(method, template)].permission)
    if token is None:
        pytest.skip(f"a {auth_type} token never holds this route's permission")
    body = valid_body(method, template, a)
    reply = await audit.raw.request(method, fill(template, org_ids(a)),
                                    headers={"Authorization": f"Bearer {token}"},
                                    **({"json": body} if body is not None else {}))
    assert reply.status not in (400, 401, 403, 404, 422, 500), await reply.text()


def mixed_routes() -> Iterator[Any]:
    """Routes with a parent and a child id: the caller's own parent with acme's child."""
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        if "{webhook_mapping}" in template or "{simCard}" in template:
            for auth_type in sorted(access.auth_types):
                if can_hold(auth_type, access.permission):
                    yield pytest.param(method, template, auth_type, id=f"{auth_type} {method} {template}")


@pytest.mark.parametrize(("method", "template", "auth_type"), list(mixed_routes()))
async def test_own_parent_with_another_organisations_child_is_404(audit: Audit, method: str, template: str,
                                                                  auth_type: str) -> None:
    a, b = audit.cast.a, audit.cast.b
    token = caller_token(b, auth_type, ROUTE_ACCESS[(method, template)].permission)
    if token is None:
        pytest.skip(f"a {auth_type} token never holds this route's permission")
    ids = {**org_ids(b), "webhook_mapping": a.mapping, "simCard": a.card}
    body = valid_body(method, template, b)
    reply = await audit.raw.request(method, fill(template, ids), headers={"Authorization": f"Bearer {token}"},
                                    **({"json": body} if body is not None else {}))
    assert (reply.status, await reply.json()) == (404, NOT_FOUND)


def a_sentinels(cast: Cast) -> list[str]:
    """Strings that only acme's objects contain."""
    return ["acme", "+4915112345001", "+4915112345002", "8949000000000000001"]


# Which field of each list's items carries the id, and which of acme's ids must not appear there.
LISTS: dict[str, str] = {
    "/api/sims": "sim", "/api/api-keys": "key_id", "/api/webhook-integrations": "hook",
    "/api/byos/devices": "device",
}
NOT_LISTS = {"/api/user", "/api/websocket-config"}


def list_routes() -> Iterator[Any]:
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        if method != "GET" or "{" in template or not access.needs_bearer:
            continue
        for auth_type in sorted(access.auth_types):
            if can_hold(auth_type, access.permission):
                yield pytest.param(template, auth_type, id=f"{auth_type} {template}")


@pytest.mark.parametrize(("template", "auth_type"), list(list_routes()))
async def test_lists_and_reads_never_show_another_organisation(audit: Audit, template: str,
                                                               auth_type: str) -> None:
    assert template in LISTS or template in NOT_LISTS, f"GET {template} is new: add it to LISTS or NOT_LISTS"
    a, b = audit.cast.a, audit.cast.b
    token = caller_token(b, auth_type, ROUTE_ACCESS[("GET", template)].permission)
    if token is None:
        pytest.skip(f"a {auth_type} token never holds this route's permission")
    reply = await audit.api.get(template, token)
    assert reply.status == 200, reply.body
    text = json.dumps(reply.body)
    leaked = [sentinel for sentinel in a_sentinels(audit.cast) if sentinel in text]
    assert not leaked, f"globex's GET {template} shows acme's {leaked}: {text[:300]}"
    if template in LISTS:
        own_id = getattr(b, LISTS[template])
        ids = [item["id"] for item in reply.body["data"]]
        assert getattr(a, LISTS[template]) not in ids
        assert own_id in ids, f"globex's own {template} lacks its object, so this test could not see a leak"


async def test_the_table_and_the_router_list_the_same_routes(audit: Audit) -> None:
    # /metrics is added by the runtime (api/metrics.install) beside the app, not by create_app.
    registered = {("GET", "/metrics")} | {
        (route.method, route.resource.canonical) for route in audit.raw.app.router.routes()
        if route.resource is not None and route.method not in ("HEAD", "*")}
    assert registered == set(ROUTE_ACCESS), (
        f"only in the router: {registered - set(ROUTE_ACCESS)}; only in the table: "
        f"{set(ROUTE_ACCESS) - registered}")


async def test_a_mapping_cannot_name_another_organisations_team(audit: Audit) -> None:
    a, b = audit.cast.a, audit.cast.b
    reply = await audit.api.call("POST", f"/api/webhook-integrations/{b.hook}/mappings", b.key,
                                 json={"team_id": a.team_id, "forwarding_mode": "always"})
    assert reply.status == 422 and list(reply.body["errors"]) == ["team_id"], reply.body
    mappings = await audit.api.get(f"/api/webhook-integrations/{b.hook}/mappings", b.key)
    assert a.team_id not in [m["team_id"] for m in mappings.body["data"]]


@pytest.mark.parametrize("channel", ["private-App.Models.User.{id}", "private-user.{id}"])
async def test_channel_auth_refuses_another_users_channel(audit: Audit, channel: str) -> None:
    a, b = audit.cast.a, audit.cast.b
    body = {"socket_id": "1234.5678", "channel_name": channel.format(id=a.user_id)}
    for token in (b.key, b.token, b.mobile_oauth):
        reply = await audit.api.call("POST", "/broadcasting/auth", token, json=body)
        assert reply.status == 403 and "auth" not in reply.body, reply.body
    own = await audit.api.call("POST", "/broadcasting/auth", b.token,
                               json={**body, "channel_name": channel.format(id=b.user_id)})
    assert own.status == 200 and set(own.body) == {"auth"}
