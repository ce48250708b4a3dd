"""Every refusal over every route of api/permissions.ROUTE_ACCESS: 401 without a live token, 403 for API keys
and OAuth tokens that lack what the route demands, 400 for malformed JSON, 413 over the body limit, 404
for unknown or non-numeric ids; and login throttling (429 with Retry-After, no account enumeration).
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from api.errors import FORBIDDEN_MESSAGE
from api.openapi import build_document
from api.permissions import API_KEY, OAUTH, ROUTE_ACCESS, SANCTUM, Access
from api.pusher import protocol
from api.settings import ApiSettings
from gatewayd.errors import Throttled
from gatewayd.services.oauth import SCOPE_PERMISSIONS
from gatewayd.services.oauth_grants import SCOPE_BYOS, SCOPE_MOBILE
from tests.api.conftest import PASSWORD, ClientFactory, Seeded
from tests.api.contract import Contract
from tests.api.two_orgs import (
    PUSHER,
    REDIRECT,
    Audit,
    Cast,
    Org,
    build_template,
    caller_token,
    fill,
    open_audit,
    org_ids,
    valid_body,
)

UNAUTHENTICATED = {"message": "Unauthenticated."}
NOT_FOUND = {"message": "Not Found."}
DOCUMENT = build_document(ApiSettings())
JSON_MEDIA = "application/json"


@pytest.fixture(scope="session")
def denial_template(seeded_database: tuple[Path, Seeded],
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cast]:
    return build_template(seeded_database, tmp_path_factory.mktemp("denials"))


@pytest.fixture
async def audit(denial_template: tuple[Path, Cast], tmp_path: Path, contract: Contract,
                aiohttp_client: ClientFactory) -> AsyncIterator[Audit]:
    async with open_audit(denial_template, tmp_path, contract, aiohttp_client) as opened:
        yield opened


def routes(predicate: Any = lambda access: access.needs_bearer) -> list[Any]:
    return [pytest.param(method, template, id=f"{method} {template}")
            for (method, template), access in sorted(ROUTE_ACCESS.items()) if predicate(access)]


def owner_token(org: Org, access: Access) -> str:
    """A credential of `org` the route accepts (API key first, as most clients use one)."""
    for auth_type in (API_KEY, SANCTUM, OAUTH):
        if auth_type in access.auth_types:
            token = caller_token(org, auth_type, access.permission)
            if token is not None:
                return token
    raise AssertionError(f"no credential of {org.name} may call a route with {access}")


async def send(audit: Audit, method: str, path: str, authorization: str | None,
               **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    headers = dict(kwargs.pop("headers", {}))
    if authorization is not None:
        headers["Authorization"] = authorization
    reply = await audit.raw.request(method, path, headers=headers, **kwargs)
    text = await reply.text()
    body = json.loads(text) if reply.content_type == JSON_MEDIA else text
    return reply.status, body, dict(reply.headers)


def refusal(access: Access) -> tuple[int, dict[str, str]]:
    if access.forbid_unauthenticated:  # /broadcasting/auth, as Laravel answers pusher-js
        return 403, {"message": FORBIDDEN_MESSAGE}
    return 401, UNAUTHENTICATED


def garbled(cast: Cast) -> list[str | None]:
    key, token = cast.a.key, cast.a.token
    return [
        None, "Bearer", "Bearer ", "Basic b3duZXI6cGFzc3dvcmQ=", f"Token {key}", f"Bearer {key} {key}",
        "Bearer garbage", "Bearer sk_live_", f"Bearer {key[:-1]}{'A' if key[-1] != 'A' else 'B'}",
        f"Bearer {key.upper()}", "Bearer 1|", "Bearer |" + token.partition("|")[2],
        "Bearer sra_", "Bearer srr_",
        "Bearer " + "a" * 5000, f"Bearer {token}\u00e9",
    ]


@pytest.mark.parametrize(("method", "template"), routes())
async def test_missing_garbled_and_dead_tokens_are_401(audit: Audit, method: str, template: str) -> None:
    access = ROUTE_ACCESS[(method, template)]
    path = fill(template, org_ids(audit.cast.a))
    dead = [f"Bearer {getattr(audit.cast.dead, field.name)}" for field in fields(audit.cast.dead)]
    expected = refusal(access)
    for authorization in garbled(audit.cast) + dead:
        status, body, _ = await send(audit, method, path, authorization)
        assert (status, body) == expected, f"{method} {path} with {str(authorization)[:60]!r}"


@pytest.mark.parametrize("token_id", ["9" * 19, "9" * 30])
async def test_a_token_id_beyond_64_bits_is_401(audit: Audit, token_id: str) -> None:
    secret = audit.cast.a.token.partition("|")[2]
    for method, path in (("GET", "/api/user"), ("GET", f"/api/sims/{audit.cast.a.sim}")):
        assert (await send(audit, method, path, f"Bearer {token_id}|{secret}"))[:2] == (401, UNAUTHENTICATED)


@pytest.mark.parametrize(("method", "template"), routes(lambda access: API_KEY in access.auth_types
                                                          and access.permission is not None))
async def test_an_api_key_without_the_permission_is_403(audit: Audit, method: str, template: str) -> None:
    access = ROUTE_ACCESS[(method, template)]
    assert access.permission is not None
    status, body, _ = await send(audit, method, fill(template, org_ids(audit.cast.a)),
                                 f"Bearer {audit.cast.lacking[access.permission]}")
    assert status == 403 and access.permission in body["message"], body


@pytest.mark.parametrize(("method", "template"), routes(lambda access: access.needs_bearer
                                                          and API_KEY not in access.auth_types))
async def test_user_only_routes_refuse_even_an_all_powerful_api_key(audit: Audit, method: str,
                                                                    template: str) -> None:
    status, body, _ = await send(audit, method, fill(template, org_ids(audit.cast.a)),
                                 f"Bearer {audit.cast.a.key}")
    assert status == 403 and body["message"], body


@pytest.mark.parametrize(("method", "template"), routes(lambda access: access.needs_bearer and (
    OAUTH not in access.auth_types or access.permission is not None)))
async def test_an_oauth_token_without_the_scope_is_403(audit: Audit, method: str, template: str) -> None:
    access = ROUTE_ACCESS[(method, template)]
    a = audit.cast.a
    tokens = {SCOPE_MOBILE: a.mobile_oauth, SCOPE_BYOS: a.byos_oauth}
    lacking = [token for scope, token in tokens.items()
               if OAUTH not in access.auth_types or access.permission not in SCOPE_PERMISSIONS[scope]]
    assert lacking, f"every scope grants {access.permission}: nothing to refuse"
    for token in lacking:
        status, body, _ = await send(audit, method, fill(template, org_ids(a)), f"Bearer {token}")
        assert status == 403 and body["message"], body


def body_media(method: str, template: str) -> list[str]:
    operation = DOCUMENT["paths"].get(template, {}).get(method.lower(), {})
    return list(operation.get("requestBody", {}).get("content", {}))


def signed_pusher_path(method: str, path: str, body: bytes) -> str:
    """The Pusher HTTP API's query-string signature (auth_key, auth_timestamp, body_md5, auth_signature)."""
    import time  # the Pusher server checks the timestamp against the wall clock

    params = {"auth_key": PUSHER.app_key, "auth_timestamp": str(int(time.time())), "auth_version": "1.0"}
    if body:
        params["body_md5"] = protocol.body_md5(body)
    params["auth_signature"] = protocol.request_signature(PUSHER.app_secret, method, path, params)
    return f"{path}?{urlencode(params)}"


def concrete(audit: Audit, method: str, template: str, body: bytes) -> tuple[str, str | None]:
    """(path, Authorization) that the route accepts, so only the body can be refused."""
    access = ROUTE_ACCESS[(method, template)]
    ids = {**org_ids(audit.cast.a), "app_id": PUSHER.app_id}
    path = fill(template, ids)
    if template.startswith("/apps/"):
        return signed_pusher_path(method, path, body), None
    return path, f"Bearer {owner_token(audit.cast.a, access)}" if access.needs_bearer else None


MALFORMED = [b'{"name": ', b"[1, 2]", b'"text"', b"\xff\xfe{}", b"{'single': 'quotes'}", b"{}}"]


def body_routes(media_required: bool) -> list[Any]:
    """POST, PUT and PATCH routes; only those documenting a request body when `media_required`."""
    return [pytest.param(method, template, id=f"{method} {template}")
            for method, template in sorted(ROUTE_ACCESS)
            if method in ("POST", "PUT", "PATCH") and (body_media(method, template) or not media_required)]


@pytest.mark.parametrize(("method", "template"), body_routes(media_required=False))
async def test_malformed_json_is_400_where_json_is_read_and_never_500(audit: Audit, method: str,
                                                                      template: str) -> None:
    takes_json = JSON_MEDIA in body_media(method, template)
    for raw in MALFORMED:
        path, authorization = concrete(audit, method, template, raw)
        status, body, _ = await send(audit, method, path, authorization, data=raw,
                                     headers={"Content-Type": JSON_MEDIA})
        assert status < 500, f"{method} {path} with {raw!r}: {status} {body}"
        if takes_json:
            assert status == 400 and body["message"], f"{method} {path} with {raw!r}: {status} {body}"


@pytest.mark.parametrize(("method", "template"), body_routes(media_required=True))
async def test_a_body_over_the_limit_is_413(audit: Audit, method: str, template: str) -> None:
    media = body_media(method, template)
    limit = ApiSettings().max_body_bytes
    raw = (b'{"name": "' + b"x" * limit + b'"}') if media[0] == JSON_MEDIA else b"name=" + b"x" * limit
    path, authorization = concrete(audit, method, template, raw)
    if template == "/oauth/authorize":  # the query is checked before the form is read: make it valid
        client_id, _ = await audit.services.oauth.create_client("big", [REDIRECT], public=True)
        path += "?" + urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                 "scope": SCOPE_MOBILE, "code_challenge": "x" * 43,
                                 "code_challenge_method": "S256"})
    status, body, _ = await send(audit, method, path, authorization, data=io.BytesIO(raw),
                                 headers={"Content-Type": media[0]})
    assert (status, body) == (413, {"message": "Content Too Large."}), f"{method} {path}"


BAD_IDS = ["999999", "abc", "-1", "0", "1.5", "1e3", "9" * 30, "%20", "1%00"]


def id_params() -> Iterator[Any]:
    for (method, template), access in sorted(ROUTE_ACCESS.items()):
        if not access.needs_bearer:
            continue
        for part in template.split("/"):
            if part.startswith("{"):
                yield pytest.param(method, template, part[1:-1], id=f"{method} {template} {part}")


@pytest.mark.parametrize(("method", "template", "param"), list(id_params()))
async def test_unknown_and_non_numeric_ids_are_404(audit: Audit, method: str, template: str,
                                                   param: str) -> None:
    a = audit.cast.a
    access = ROUTE_ACCESS[(method, template)]
    body = valid_body(method, template, a)
    for bad in BAD_IDS:
        path = fill(template, {**org_ids(a), param: bad})  # type: ignore[dict-item]
        status, reply, _ = await send(audit, method, path, f"Bearer {owner_token(a, access)}",
                                      **({"json": body} if body is not None else {}))
        assert (status, reply) == (404, NOT_FOUND), f"{method} {path}"


async def test_revocations_through_the_api_take_effect_at_once(audit: Audit) -> None:
    """The principal cache must not keep a credential alive after it changed (same process, no wait)."""
    a = audit.cast.a
    owner = a.token
    created = await audit.api.call("POST", "/api/api-keys", owner,
                                   json={"name": "cached", "permissions": ["numbers.read", "messages.read"]})
    key, key_id = created.body["plain_text_key"], created.body["api_key"]["id"]
    assert (await audit.api.get("/api/sims", key)).status == 200  # now cached
    narrowed = await audit.api.call("PATCH", f"/api/api-keys/{key_id}", owner,
                                    json={"permissions": ["messages.read"]})
    assert narrowed.status == 200, narrowed.body
    assert (await audit.api.get("/api/sims", key)).status == 403
    regenerated = await audit.api.call("POST", f"/api/api-keys/{key_id}/regenerate", owner)
    assert (await send(audit, "GET", "/api/user", f"Bearer {key}"))[:2] == (401, UNAUTHENTICATED)
    new_key = regenerated.body["plain_text_key"]
    assert (await audit.api.get("/api/user", new_key)).status == 200
    assert (await audit.api.call("DELETE", f"/api/api-keys/{key_id}", owner)).status == 200
    assert (await send(audit, "GET", "/api/user", f"Bearer {new_key}"))[:2] == (401, UNAUTHENTICATED)
    assert (await audit.api.call("POST", "/api/auth/logout", owner)).status == 200
    assert (await send(audit, "GET", "/api/user", f"Bearer {owner}"))[:2] == (401, UNAUTHENTICATED)


async def login(audit: Audit, email: str, password: str,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    return await send(audit, "POST", "/api/auth/login", None, json={"email": email, "password": password},
                      headers=headers or {})


THROTTLED = {"message": "Too Many Attempts."}


def retry_after(headers: dict[str, str]) -> int:
    wait = int(headers["Retry-After"])
    assert 1 <= wait <= 60, wait
    return wait


async def test_login_is_throttled_per_email_whatever_its_case_or_spacing(audit: Audit) -> None:
    for spelling in ("owner@acme.example", "OWNER@ACME.EXAMPLE", " owner@acme.example", "Owner@Acme.Example",
                     "owner@acme.example "):
        assert (await login(audit, spelling, "wrong"))[0] == 422
    status, body, headers = await login(audit, "owner@acme.example", PASSWORD)
    assert (status, body) == (429, THROTTLED)
    retry_after(headers)
    assert (await login(audit, "owner@globex.example", PASSWORD))[0] == 200  # another account is not held


async def test_login_is_throttled_per_address_and_forwarded_headers_do_not_reset_it(audit: Audit) -> None:
    for n in range(20):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}",
                   "Forwarded": f"for=203.0.113.{n}"}
        assert (await login(audit, f"user{n}@acme.example", "wrong", spoofed))[0] == 422
    status, body, headers = await login(audit, "owner@globex.example", PASSWORD,
                                        {"X-Forwarded-For": "198.51.100.7"})
    assert (status, body) == (429, THROTTLED)
    wait = retry_after(headers)
    audit.clock.advance(wait)
    assert (await login(audit, "owner@globex.example", PASSWORD))[0] == 200


def comparable(reply: tuple[int, Any, dict[str, str]]) -> tuple[int, Any, list[str]]:
    status, body, headers = reply
    return status, body, sorted(name.lower() for name in headers if name.lower() != "date")


async def test_unknown_email_and_wrong_password_are_indistinguishable(audit: Audit) -> None:
    for _ in range(5):  # before, at and after the throttle
        unknown = await login(audit, "nobody@acme.example", "wrong")
        wrong = await login(audit, "owner@acme.example", "wrong")
        assert comparable(unknown) == comparable(wrong)
        no_password = await login(audit, "owner@acme.example", "")
        assert comparable(no_password) == comparable(await login(audit, "nobody@acme.example", ""))
    assert comparable(await login(audit, "nobody@acme.example", "wrong")) == comparable(
        await login(audit, "owner@acme.example", "wrong"))
    assert (await login(audit, "owner@acme.example", "wrong"))[0] == 429


async def test_failures_at_the_api_login_also_hold_the_oauth_sign_in(audit: Audit) -> None:
    for _ in range(5):
        await login(audit, "owner@acme.example", "wrong")
    assert (await login(audit, "owner@acme.example", PASSWORD))[0] == 429
    browser = await audit.services.oauth.browser_session(None)
    with pytest.raises(Throttled):
        await audit.services.oauth.sign_in(browser, "owner@acme.example", PASSWORD, address="127.0.0.1")
