"""Bearer authentication and the permission table, applied before any handler runs.

It asks services.auth who the token belongs to and checks api/permissions.py; it never reads the store
and never decides organisation scoping (services do, raising NotFound).
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import FORBIDDEN_MESSAGE, Unauthenticated
from api.keys import PRINCIPAL, SERVICES
from api.permissions import access_for, authorize
from gatewayd.errors import Forbidden

# Generous for `<id>|<40 chars>`, `sk_live_...` and OAuth tokens (JWTs run to ~1 KiB), yet short enough that
# a garbage header is refused before it is hashed and looked up.
MAX_TOKEN_CHARS = 2048
_BEARER = re.compile(r"Bearer +([\x21-\x7e]+) *", re.IGNORECASE)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when missing or garbled."""
    if authorization is None:
        return None
    match = _BEARER.fullmatch(authorization)
    if match is None or len(match.group(1)) > MAX_TOKEN_CHARS:
        return None
    return match.group(1)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    if match_info.http_exception is not None:
        return await handler(request)  # unknown route or method: 404/405, whoever asks
    access = access_for(request.method, match_info.route.resource.canonical)  # type: ignore[union-attr]
    if not access.needs_bearer:
        return await handler(request)
    token = bearer_token(request.headers.get("Authorization"))
    principal = await request.app[SERVICES].auth.authenticate(token) if token is not None else None
    if principal is None:
        reason = "missing or malformed Authorization header" if token is None else (
            f"no credential matches token prefix {token[:8]!r}")
        if access.forbid_unauthenticated:
            raise Forbidden(FORBIDDEN_MESSAGE)
        raise Unauthenticated(reason)
    authorize(access, principal)
    request[PRINCIPAL] = principal
    return await handler(request)
