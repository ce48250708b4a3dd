"""No plain secret at rest: after creating every kind of credential through the API and the services, every
text and blob value of every table is searched for each plain secret (and for its secret part alone).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from gatewayd.services.auth import API_KEY_PREFIX
from gatewayd.services.oauth_grants import SCOPE_BYOS, SCOPE_MOBILE
from tests.api.conftest import PASSWORD, ClientFactory, Seeded
from tests.api.contract import Contract
from tests.api.two_orgs import REDIRECT, Audit, Cast, build_template, open_audit

OWNER = "owner@acme.example"
# Long enough that a chance match in unrelated text is impossible; every secret here is >= 32 characters.
MIN_SECRET_CHARS = 20


@pytest.fixture(scope="session")
def secrets_template(seeded_database: tuple[Path, Seeded],
                     tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cast]:
    return build_template(seeded_database, tmp_path_factory.mktemp("secrets"))


@pytest.fixture
async def audit(secrets_template: tuple[Path, Cast], tmp_path: Path, contract: Contract,
                aiohttp_client: ClientFactory) -> AsyncIterator[Audit]:
    async with open_audit(secrets_template, tmp_path, contract, aiohttp_client) as opened:
        yield opened


async def http_secrets(audit: Audit) -> dict[str, str]:
    """Secrets handed out by the HTTP API: login token, API key (and its regeneration), webhook secret."""
    login = await audit.api.call("POST", "/api/auth/login", json={"email": OWNER, "password": PASSWORD})
    token = login.body["token"]
    created = await audit.api.call("POST", "/api/api-keys", token,
                                   json={"name": "at rest", "permissions": ["numbers.read"]})
    key_id = created.body["api_key"]["id"]
    regenerated = await audit.api.call("POST", f"/api/api-keys/{key_id}/regenerate", token)
    hook = await audit.api.call("POST", "/api/webhook-integrations", audit.cast.a.key,
                                json={"name": "at rest", "url": "http://127.0.0.1:9/h"})
    hook_id = hook.body["data"]["id"]
    rotated = await audit.api.call("POST", f"/api/webhook-integrations/{hook_id}/regenerate-secret",
                                   audit.cast.a.key)
    return {"personal access token": token, "API key": created.body["plain_text_key"],
            "regenerated API key": regenerated.body["plain_text_key"],
            "webhook secret": hook.body["data"]["secret"],
            "regenerated webhook secret": rotated.body["data"]["secret"]}


async def oauth_secrets(audit: Audit) -> dict[str, str]:
    """A confidential client's secret, an authorization code, and access/refresh tokens before and after
    a refresh (the rotated ones too)."""
    oauth = audit.services.oauth
    _, client_secret = await oauth.create_client("Confidential", [REDIRECT], public=False)
    assert client_secret is not None
    client_id, _ = await oauth.create_client("Public", [REDIRECT], public=True)
    user = await audit.services.auth.verify_credentials(OWNER, PASSWORD)
    assert user is not None
    verifier = generate_token(64)
    location = await oauth.decide([
        ("response_type", "code"), ("client_id", client_id), ("redirect_uri", REDIRECT),
        ("scope", f"{SCOPE_MOBILE} {SCOPE_BYOS}"), ("code_challenge", create_s256_code_challenge(verifier)),
        ("code_challenge_method", "S256")], user.id)
    code = parse_qs(urlsplit(location).query)["code"][0]
    pending = await oauth.decide([  # a second code that is never exchanged, so its row stays
        ("response_type", "code"), ("client_id", client_id), ("redirect_uri", REDIRECT),
        ("scope", SCOPE_BYOS),
        ("code_challenge", create_s256_code_challenge(verifier)), ("code_challenge_method", "S256")], user.id)
    first = await oauth.token([("grant_type", "authorization_code"), ("client_id", client_id), ("code", code),
                               ("code_verifier", verifier), ("redirect_uri", REDIRECT)], {})
    assert first.status == 200, first.body
    second = await oauth.token([("grant_type", "refresh_token"), ("client_id", client_id),
                                ("refresh_token", first.body["refresh_token"])], {})
    assert second.status == 200, second.body
    return {"OAuth client secret": client_secret, "authorization code": code,
            "unexchanged authorization code": parse_qs(urlsplit(pending).query)["code"][0],
            "access token": first.body["access_token"], "refresh token": first.body["refresh_token"],
            "rotated access token": second.body["access_token"],
            "rotated refresh token": second.body["refresh_token"]}


def needles(secrets: dict[str, str]) -> dict[str, str]:
    """Each secret, and its secret part alone (after `<id>|` or the `sk_live_` prefix)."""
    found = dict(secrets)
    for name, value in secrets.items():
        part = value.partition("|")[2] or value.removeprefix(API_KEY_PREFIX)
        if part != value:
            found[f"{name} (secret part)"] = part
    assert all(len(value) >= MIN_SECRET_CHARS for value in found.values()), found
    return found


def stored_text(database: Path) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text and blob value in the database file."""
    found: list[tuple[str, str, str]] = []
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from sqlite_master)
            columns = [column[0] for column in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes):
                        found.append((table, column, value.decode("latin-1")))
                    elif isinstance(value, str):
                        found.append((table, column, value))
    return found


async def test_no_plain_secret_is_stored_anywhere(audit: Audit, tmp_path: Path) -> None:
    a = audit.cast.a
    secrets = {**await http_secrets(audit), **await oauth_secrets(audit),
               "seeded API key": a.key, "seeded token": a.token, "mobile OAuth": a.mobile_oauth,
               "byos OAuth": a.byos_oauth}
    await audit.services.auth.flush_last_used()
    values = stored_text(tmp_path / "audit.db")
    assert len(values) > 100, "the scan read almost nothing: wrong database file?"
    leaks = [(name, table, column) for name, secret in needles(secrets).items()
             for table, column, value in values if secret in value]
    assert not leaks, f"plain secrets at rest: {leaks}"


async def test_the_scan_finds_a_plain_value_when_there_is_one(audit: Audit, tmp_path: Path) -> None:
    """The control: a value written in plain (a device name) is found by the same scan."""
    marker = "plain-marker-" + generate_token(24)
    renamed = await audit.api.call("PUT", f"/api/byos/devices/{audit.cast.a.device}", audit.cast.a.byos_oauth,
                                   json={"device_name": marker})
    assert renamed.status == 200
    assert any(marker in value for _, _, value in stored_text(tmp_path / "audit.db"))
