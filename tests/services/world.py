"""Builds small worlds for service tests through the real services (no hand-made rows or principals)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from gatewayd.services.container import Services
from gatewayd.services.views import Principal

PASSWORD = "correct horse battery"
OAUTH_REDIRECT = "http://127.0.0.1/callback"
ALL = ["numbers.read", "numbers.lock", "messages.read", "webhooks.receive"]


@dataclass(frozen=True)
class Org:
    name: str
    key: Principal  # an API key of the org's first user
    user: Principal  # that user's personal access token


async def physical_sim(services: Services, imei: str, iccid: str, number: str | None = None) -> int:
    modem_id = await services.gateway.modem_seen(
        imei=imei, port=f"/dev/ttyUSB{imei[-1]}", usb_path=f"1-{imei[-1]}", manufacturer="Quectel",
        model="EC25", revision="EC25EFAR06A07M4G",
    )  # fmt: skip
    return await services.gateway.sim_seen(
        modem_id=modem_id, iccid=iccid, imsi=None, phone_number=number, operator="Vodafone"
    )


async def principal_for_key(services: Services, org: str, email: str, permissions: list[str]) -> Principal:
    _, plain = await services.admin.create_api_key(
        org=org, user_email=email, name="k", permissions=permissions
    )
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    return principal


async def principal_for_user(services: Services, email: str) -> Principal:
    user = await services.auth.verify_credentials(email, PASSWORD)
    assert user is not None
    _, plain = await services.auth.issue_personal_token(user.id, "test")
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    return principal


async def organization(services: Services, name: str, *, team: str | None = None) -> Org:
    """An organisation with one user (in `team` if given), an API key and a personal token."""
    await services.admin.create_organization(name)
    if team is not None:
        await services.admin.create_team(name, team)
    email = f"owner@{name}.example"
    await services.admin.create_user(name, email=email, name=f"{name} owner", password=PASSWORD, team=team)
    key = await principal_for_key(services, name, email, ALL)
    return Org(name=name, key=key, user=await principal_for_user(services, email))


async def oauth_tokens(services: Services, email: str, scope: str,
                       client_name: str = "SimRelay app") -> tuple[str, str, str]:
    """(access token, refresh token, client_id) through the real authorization-code grant with PKCE, at
    service level (the browser part of the flow is tested in tests/api/test_oauth.py)."""
    client_id, _ = await services.oauth.create_client(client_name, [OAUTH_REDIRECT], public=True)
    user = await services.auth.verify_credentials(email, PASSWORD)
    assert user is not None
    verifier = generate_token(64)
    location = await services.oauth.decide([
        ("response_type", "code"), ("client_id", client_id), ("redirect_uri", OAUTH_REDIRECT),
        ("scope", scope),
        ("code_challenge", create_s256_code_challenge(verifier)), ("code_challenge_method", "S256"),
    ], user.id)
    code = parse_qs(urlsplit(location).query)["code"][0]
    reply = await services.oauth.token([
        ("grant_type", "authorization_code"), ("client_id", client_id), ("code", code),
        ("code_verifier", verifier), ("redirect_uri", OAUTH_REDIRECT),
    ], {})
    assert reply.status == 200, reply.body
    return str(reply.body["access_token"]), str(reply.body["refresh_token"]), client_id
