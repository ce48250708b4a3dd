"""Per-credential request budget (default 600 a minute) with `X-RateLimit-Limit/Remaining` headers.

Runs after authentication (it keys on the principal's credential) and adds the headers to every answer
of an authenticated route, errors included; past the budget it answers 429 with `Retry-After`.
Unauthenticated routes are not counted here (login has its own throttle in services.auth).
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import response_for
from api.keys import PRINCIPAL
from gatewayd.errors import Throttled
from gatewayd.services.throttle import Budget, RequestRateLimiter
from gatewayd.services.views import Principal

RATE_LIMITER: Final[web.AppKey[RequestRateLimiter]] = web.AppKey("simrelay.rate_limiter")


def credential_key(principal: Principal) -> str:
    """One budget per credential: each API key and each token counts on its own."""
    if principal.api_key_id is not None:
        return f"api_key:{principal.api_key_id}"
    if principal.token_id is not None:
        return f"{principal.auth_type}:{principal.token_id}"
    return f"{principal.auth_type}:user:{principal.user_id}"


def _headers(budget: Budget) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(budget.limit), "X-RateLimit-Remaining": str(budget.remaining)}


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal = request.get(PRINCIPAL)
    if principal is None:  # a public route (auth ran before us and set no principal)
        return await handler(request)
    budget = request.app[RATE_LIMITER].take(credential_key(principal))
    if not budget.allowed:
        refused = response_for(Throttled(f"request budget of {credential_key(principal)}",
                                         budget.retry_after_s))
        assert refused is not None
        refused.headers.update(_headers(budget))
        return refused
    try:
        response = await handler(request)
    except web.HTTPException:
        raise  # aiohttp's own (405, 413): error_middleware shapes them
    except Exception as exc:
        known = response_for(exc)
        if known is None:
            raise
        response = known
    if not response.prepared:  # a WebSocket has already sent its headers
        response.headers.update(_headers(budget))
    return response
