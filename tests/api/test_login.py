"""Login, the TOTP step and logout over HTTP: tokens that work, one answer for unknown email and wrong
password, throttling per email and per address, single-use and short-lived tmp_tokens, real TOTP codes."""

from __future__ import annotations

import pyotp
import pytest

from gatewayd.services.two_factor import TMP_TOKEN_TTL_S
from tests.api.conftest import PASSWORD, World
from tests.api.contract import ApiClient

OWNER = "owner@acme.example"


async def login(api: ApiClient, email: str, password: str, **extra: str) -> tuple[int, dict[str, object]]:
    reply = await api.call("POST", "/api/auth/login", json={"email": email, "password": password, **extra})
    return reply.status, reply.body


async def test_login_gives_a_working_token_that_logout_revokes(api: ApiClient) -> None:
    status, body = await login(api, OWNER.upper(), PASSWORD, device_name="phone")
    assert status == 200
    token = str(body["token"])
    assert body["user"]["email"] == OWNER  # type: ignore[index]
    me = await api.get("/api/user", token)
    assert (me.status, me.body["auth_type"], me.body["api_key"]) == (200, "sanctum", None)
    assert (await api.call("POST", "/api/auth/logout", token)).status == 200
    assert (await api.get("/api/user", token)).status == 401


async def test_unknown_email_and_wrong_password_answer_alike(api: ApiClient) -> None:
    unknown = await login(api, "nobody@acme.example", PASSWORD)
    wrong = await login(api, OWNER, "not the password")
    assert unknown == wrong
    assert unknown[0] == 422 and list(unknown[1]["errors"]) == ["email"]  # type: ignore[call-overload]


async def test_an_api_key_cannot_log_out(api: ApiClient, world: World) -> None:
    assert (await api.call("POST", "/api/auth/logout", world.seeded.acme_key)).status == 403


@pytest.mark.parametrize("body", [{}, {"email": OWNER}, {"email": "no-at-sign", "password": "x"},
                                  {"email": 5, "password": PASSWORD}])
async def test_incomplete_login_is_422(api: ApiClient, body: dict[str, object]) -> None:
    reply = await api.call("POST", "/api/auth/login", json=body)
    assert reply.status == 422


async def test_failed_logins_are_throttled_per_email_then_released(api: ApiClient, world: World) -> None:
    for _ in range(5):
        assert (await login(api, OWNER, "wrong"))[0] == 422
    reply = await api.call("POST", "/api/auth/login", json={"email": OWNER, "password": PASSWORD})
    assert (reply.status, reply.body) == (429, {"message": "Too Many Attempts."})
    assert 1 <= int(reply.headers["Retry-After"]) <= 60
    # An unknown email is counted exactly like a known one: nothing to learn from the throttle either.
    for _ in range(5):
        await login(api, "ghost@acme.example", "wrong")
    assert (await login(api, "ghost@acme.example", "wrong"))[0] == 429
    world.clock.advance(61)
    assert (await login(api, OWNER, PASSWORD))[0] == 200


async def test_failed_logins_are_throttled_per_address(api: ApiClient) -> None:
    for n in range(20):
        await login(api, f"user{n}@acme.example", "wrong")
    assert (await login(api, OWNER, PASSWORD))[0] == 429


async def enable_totp(world: World) -> pyotp.TOTP:
    enrollment = await world.services.accounts.enable_totp(OWNER)
    assert enrollment.uri.startswith("otpauth://totp/SimRelay:")
    return pyotp.TOTP(enrollment.secret)


async def second_step(api: ApiClient, tmp_token: str, code: str) -> tuple[int, dict[str, object]]:
    reply = await api.call("POST", "/api/auth/login/2fa", json={"tmp_token": tmp_token, "code": code})
    return reply.status, reply.body


async def test_totp_login_with_a_real_code_and_single_use_tmp_token(api: ApiClient, world: World) -> None:
    totp = await enable_totp(world)
    status, body = await login(api, OWNER, PASSWORD)
    assert status == 200 and body["2fa_required"] is True and "token" not in body
    tmp_token = str(body["tmp_token"])
    code = totp.at(world.clock.now())
    status, signed_in = await second_step(api, tmp_token, code)
    assert status == 200
    assert (await api.get("/api/user", str(signed_in["token"]))).status == 200
    # Spent: the same tmp_token (even with a fresh code) is refused.
    world.clock.advance(30)
    status, again = await second_step(api, tmp_token, totp.at(world.clock.now()))
    assert status == 422 and list(again["errors"]) == ["tmp_token"]  # type: ignore[call-overload]


async def test_a_code_from_the_adjacent_step_is_accepted_but_not_replayed(api: ApiClient,
                                                                          world: World) -> None:
    totp = await enable_totp(world)
    previous_step = totp.at(world.clock.now(), counter_offset=-1)
    _, first = await login(api, OWNER, PASSWORD)
    assert (await second_step(api, str(first["tmp_token"]), previous_step))[0] == 200
    _, second = await login(api, OWNER, PASSWORD)
    assert (await second_step(api, str(second["tmp_token"]), previous_step))[0] == 422


async def test_tmp_token_expires(api: ApiClient, world: World) -> None:
    totp = await enable_totp(world)
    _, body = await login(api, OWNER, PASSWORD)
    world.clock.advance(TMP_TOKEN_TTL_S)
    status, refused = await second_step(api, str(body["tmp_token"]), totp.at(world.clock.now()))
    assert status == 422 and list(refused["errors"]) == ["tmp_token"]  # type: ignore[call-overload]


async def test_wrong_codes_burn_the_tmp_token(api: ApiClient, world: World) -> None:
    totp = await enable_totp(world)
    _, body = await login(api, OWNER, PASSWORD)
    tmp_token = str(body["tmp_token"])
    right = totp.at(world.clock.now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        status, refused = await second_step(api, tmp_token, wrong)
        assert status == 422 and list(refused["errors"]) == ["code"]  # type: ignore[call-overload]
    assert (await second_step(api, tmp_token, right))[0] == 429  # and the throttle stepped in
    world.clock.advance(61)  # past the throttle, well within the tmp_token's lifetime: still burnt
    status, refused = await second_step(api, tmp_token, totp.at(world.clock.now()))
    assert status == 422 and list(refused["errors"]) == ["tmp_token"]  # type: ignore[call-overload]
