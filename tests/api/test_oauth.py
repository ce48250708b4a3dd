"""The OAuth2 PKCE flow driven by Authlib's own client (AsyncOAuth2Client over httpx) against the running
server: sign-in page, TOTP step, consent, code, token, an API call, refresh with rotation, and the refusals
(wrong verifier, reused code, foreign redirect URI, reused refresh token, plain PKCE, missing CSRF)."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from gatewayd.services.container import Services
from tests.api.conftest import PASSWORD, World
from tests.api.contract import ApiClient

OWNER = "owner@acme.example"
REDIRECT = "http://127.0.0.1/callback"
EXTENSION_REDIRECT = "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/"


@pytest.fixture(autouse=True)
def _plain_http_for_the_test_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # Authlib's client refuses http:// unless told; the test server listens on loopback without TLS.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


async def public_client(services: Services) -> str:
    client_id, secret = await services.oauth.create_client("SimRelay app", [REDIRECT, EXTENSION_REDIRECT],
                                                           public=True)
    assert secret is None
    return client_id


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The form's action and hidden fields of one of our pages."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None, page
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {name: html.unescape(value) for name, value in hidden.items()}


class Browser:
    """A user agent (blocking, run in a thread) that keeps the session cookie and never follows redirects."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.http = requests.Session()

    def get(self, url: str) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=10)

    def submit(self, page: str, **fields: str) -> requests.Response:
        action, hidden = form_of(page)
        return self.http.post(self.server_url + action, data={**hidden, **fields}, allow_redirects=False,
                              timeout=10)

    def sign_in_and_consent(self, authorize_url: str, *, totp_code: str | None = None,
                            decision: str = "approve") -> requests.Response:
        page = self.get(authorize_url)
        assert page.status_code == 200, page.text
        assert "Sign in" in page.text
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        step = self.submit(page.text, email=OWNER, password=PASSWORD)
        assert step.status_code == 200, step.text
        if totp_code is not None:
            assert "Two-factor" in step.text
            step = self.submit(step.text, code=totp_code)
            assert step.status_code == 200, step.text
        assert "Allow" in step.text and "SimRelay app" in step.text
        return self.submit(step.text, decision=decision)


@pytest.fixture
async def server_url(api: ApiClient) -> str:
    return str(api.raw.make_url("")).rstrip("/")


def _pkce_flow(server_url: str, client_id: str, scope: str, totp_code: str | None
               ) -> tuple[OAuth2Session, dict[str, Any]]:
    session = OAuth2Session(client_id=client_id, redirect_uri=REDIRECT, scope=scope,
                            code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(server_url + "/oauth/authorize", code_verifier=verifier)
    answer = Browser(server_url).sign_in_and_consent(url, totp_code=totp_code)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT) and parse_qs(urlsplit(location).query)["state"] == [state]
    token = session.fetch_token(server_url + "/oauth/token", authorization_response=location,
                                code_verifier=verifier)
    return session, dict(token)


async def full_flow(world: World, server_url: str, client_id: str, *, scope: str = "mobile:device",
                    totp: pyotp.TOTP | None = None) -> tuple[OAuth2Session, dict[str, Any]]:
    """Sign in, consent and exchange the code with Authlib's OAuth2Session, off the event loop."""
    code = totp.at(world.clock.now()) if totp is not None else None
    return await asyncio.to_thread(_pkce_flow, server_url, client_id, scope, code)


async def test_pkce_flow_gives_a_token_that_calls_the_api_and_refresh_rotates(
        api: ApiClient, world: World, server_url: str) -> None:
    client_id = await public_client(world.services)
    session, token = await full_flow(world, server_url, client_id)
    answered = {name: value for name, value in token.items() if name != "expires_at"}  # added by Authlib
    api.contract.check("POST", "/oauth/token", 200, "application/json", answered)
    assert token["expires_in"] == 15 * 24 * 3600 and token["scope"] == "mobile:device"
    me = await api.get("/api/user", token["access_token"])
    assert me.status == 200 and me.body["auth_type"] == "oauth" and me.body["user"]["email"] == OWNER
    assert (await api.get("/api/sims", token["access_token"])).status == 200
    assert (await api.get("/api/api-keys", token["access_token"])).status == 200
    assert (await api.get("/api/byos/devices", token["access_token"])).status == 403  # no byos scope

    old_refresh = token["refresh_token"]
    fresh = await asyncio.to_thread(session.refresh_token, server_url + "/oauth/token")
    assert fresh["refresh_token"] != old_refresh and fresh["access_token"] != token["access_token"]
    assert (await api.get("/api/user", fresh["access_token"])).status == 200
    assert (await api.get("/api/user", token["access_token"])).status == 401  # rotated away

    # The old refresh token again: refused, and the whole family (the fresh pair too) is revoked.
    reused = await api.call("POST", "/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": client_id})
    assert reused.status == 400 and reused.body["error"] == "invalid_grant"
    assert (await api.get("/api/user", fresh["access_token"])).status == 401
    again = await api.call("POST", "/oauth/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": fresh["refresh_token"],
                                                         "client_id": client_id})
    assert again.status == 400


async def test_totp_step_when_two_factor_is_on(api: ApiClient, world: World, server_url: str) -> None:
    enrollment = await world.services.accounts.enable_totp(OWNER)
    client_id = await public_client(world.services)
    _, token = await full_flow(world, server_url, client_id, scope="byos", totp=pyotp.TOTP(enrollment.secret))
    assert token["scope"] == "byos"
    assert (await api.get("/api/byos/devices", token["access_token"])).status == 200
    assert (await api.get("/api/sims", token["access_token"])).status == 403  # byos scope only


async def authorized_code(world: World, server_url: str, client_id: str, verifier: str,
                          redirect_uri: str = REDIRECT) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
              "scope": "mobile:device", "state": "s1"}
    url = server_url + "/oauth/authorize?" + urlencode(params)
    answer = await asyncio.to_thread(Browser(server_url).sign_in_and_consent, url)
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def exchange(client_id: str, code: str, verifier: str, redirect_uri: str = REDIRECT) -> dict[str, str]:
    return {"grant_type": "authorization_code", "client_id": client_id, "code": code,
            "code_verifier": verifier, "redirect_uri": redirect_uri}


async def test_wrong_verifier_is_refused(api: ApiClient, world: World, server_url: str) -> None:
    client_id = await public_client(world.services)
    verifier = generate_token(64)
    code = await authorized_code(world, server_url, client_id, verifier)
    wrong = await api.call("POST", "/oauth/token", data=exchange(client_id, code, generate_token(64)))
    assert wrong.status == 400 and wrong.body["error"] == "invalid_grant"


async def test_reused_code_revokes_the_tokens_it_issued(api: ApiClient, world: World,
                                                         server_url: str) -> None:
    client_id = await public_client(world.services)
    verifier = generate_token(64)
    code = await authorized_code(world, server_url, client_id, verifier)
    first = await api.call("POST", "/oauth/token", data=exchange(client_id, code, verifier))
    assert first.status == 200
    assert (await api.get("/api/user", first.body["access_token"])).status == 200
    second = await api.call("POST", "/oauth/token", data=exchange(client_id, code, verifier))
    assert second.status == 400 and second.body["error"] == "invalid_grant"
    assert (await api.get("/api/user", first.body["access_token"])).status == 401


async def test_expired_code_is_refused(api: ApiClient, world: World, server_url: str) -> None:
    client_id = await public_client(world.services)
    verifier = generate_token(64)
    code = await authorized_code(world, server_url, client_id, verifier)
    world.clock.advance(121)
    late = await api.call("POST", "/oauth/token", data=exchange(client_id, code, verifier))
    assert late.status == 400 and late.body["error"] == "invalid_grant"


async def test_loopback_any_port_and_chrome_extension_redirects(api: ApiClient, world: World,
                                                                 server_url: str) -> None:
    client_id = await public_client(world.services)
    for redirect in ("http://127.0.0.1:53117/callback", EXTENSION_REDIRECT + "oauth2"):
        verifier = generate_token(64)
        code = await authorized_code(world, server_url, client_id, verifier, redirect)
        token = await api.call("POST", "/oauth/token", data=exchange(client_id, code, verifier, redirect))
        assert token.status == 200, token.body


async def test_foreign_redirect_uri_gets_a_page_not_a_redirect(api: ApiClient, world: World) -> None:
    client_id = await public_client(world.services)
    verifier = generate_token(64)
    for foreign in ("https://evil.example/callback", "http://127.0.0.1/other", "http://localhost/callback"):
        reply = await api.get("/oauth/authorize", params={
            "response_type": "code", "client_id": client_id, "redirect_uri": foreign, "state": "x",
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"},
            allow_redirects=False)
        assert reply.status == 400 and "Location" not in reply.headers
        assert "not supported" in reply.body
    unknown = await api.get("/oauth/authorize", params={"response_type": "code", "client_id": "nobody",
                                                        "redirect_uri": REDIRECT}, allow_redirects=False)
    assert unknown.status == 400


async def test_plain_or_missing_pkce_goes_back_to_the_client_as_an_error(api: ApiClient,
                                                                          world: World) -> None:
    client_id = await public_client(world.services)
    base = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st"}
    for extra in ({"code_challenge": "a" * 43, "code_challenge_method": "plain"}, {}):
        reply = await api.get("/oauth/authorize", params={**base, **extra}, allow_redirects=False)
        assert reply.status == 302
        query = parse_qs(urlsplit(reply.headers["Location"]).query)
        assert query["error"] == ["invalid_request"] and query["state"] == ["st"]


def authorize_url(server_url: str, client_id: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "code_challenge": create_s256_code_challenge(generate_token(64)),
              "code_challenge_method": "S256"}
    return server_url + "/oauth/authorize?" + urlencode(params)


def _deny_then_forge(server_url: str, url: str) -> None:
    browser = Browser(server_url)
    denied = browser.sign_in_and_consent(url, decision="deny")
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
    page = browser.get(url)
    action, hidden = form_of(page.text)
    forged = browser.http.post(server_url + action, data={**hidden, "csrf_token": "forged",
                                                          "decision": "approve"}, allow_redirects=False)
    assert forged.status_code == 403
    blind = requests.post(server_url + action, data={**hidden, "decision": "approve"},  # no cookie
                          allow_redirects=False, timeout=10)
    assert blind.status_code == 403


async def test_deny_and_csrf(world: World, server_url: str) -> None:
    client_id = await public_client(world.services)
    await asyncio.to_thread(_deny_then_forge, server_url, authorize_url(server_url, client_id))


def _wrong_password(server_url: str, url: str) -> None:
    browser = Browser(server_url)
    page = browser.get(url)
    again = browser.submit(page.text, email=OWNER, password="wrong password")
    assert again.status_code == 200 and "do not match" in again.text and "Sign in" in again.text


async def test_wrong_password_shows_the_form_again(world: World, server_url: str) -> None:
    client_id = await public_client(world.services)
    await asyncio.to_thread(_wrong_password, server_url, authorize_url(server_url, client_id))


async def test_revoke_stops_the_family(api: ApiClient, world: World, server_url: str) -> None:
    client_id = await public_client(world.services)
    _, token = await full_flow(world, server_url, client_id)
    revoked = await api.call("POST", "/oauth/revoke", data={"token": token["refresh_token"],
                                                            "client_id": client_id})
    assert revoked.status == 200
    assert (await api.get("/api/user", token["access_token"])).status == 401
    unknown = await api.call("POST", "/oauth/revoke", data={"token": "nothing", "client_id": client_id})
    assert unknown.status == 200
