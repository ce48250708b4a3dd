"""`POST /api/auth/login`, `/api/auth/login/2fa` and `/api/auth/logout`: personal access tokens.

Validates bodies and serialises; credentials, TOTP, throttling and token issue are services.auth's.
The client address used for throttling is the TCP peer (a trusted proxy setting can come later).
"""

from __future__ import annotations

from aiohttp import web

from api.keys import PRINCIPAL, SERVICES
from api.requests import FieldErrors, read_json_object, string_field
from api.schemas import user_json

MAX_EMAIL_CHARS = 320
MAX_SECRET_CHARS = 1024  # Argon2 cost does not depend on length, but nobody types a longer password
MAX_DEVICE_NAME_CHARS = 255


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


async def login(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    email = string_field(errors, body, "email", required=True, max_length=MAX_EMAIL_CHARS)
    password = string_field(errors, body, "password", required=True, max_length=MAX_SECRET_CHARS)
    device_name = string_field(errors, body, "device_name", required=False, max_length=MAX_DEVICE_NAME_CHARS)
    if email is not None and "@" not in email:
        errors.add("email", "The email field must be a valid email address.")
    errors.raise_if_any()
    assert email is not None and password is not None
    result = await request.app[SERVICES].auth.login(email, password, address=_address(request),
                                                    device_name=device_name)
    if result.tmp_token is not None:
        return web.json_response({"2fa_required": True, "tmp_token": result.tmp_token})
    assert result.token is not None and result.user is not None
    return web.json_response({"token": result.token, "user": user_json(result.user)})


async def login_two_factor(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    errors = FieldErrors()
    tmp_token = string_field(errors, body, "tmp_token", required=True, max_length=MAX_SECRET_CHARS)
    code = string_field(errors, body, "code", required=True, max_length=16)
    errors.raise_if_any()
    assert tmp_token is not None and code is not None
    token, user = await request.app[SERVICES].auth.complete_two_factor(tmp_token, code,
                                                                       address=_address(request))
    return web.json_response({"token": token, "user": user_json(user)})


async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].auth.logout(request[PRINCIPAL])
    return web.json_response({"message": "Logged out successfully."})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/login/2fa", login_two_factor)
    app.router.add_post("/api/auth/logout", logout)
