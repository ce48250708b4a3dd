"""The one place that turns errors into HTTP statuses and Laravel-style JSON error bodies.

Handlers raise domain errors (gatewayd.errors) or the request errors below; they never build error
responses themselves. Unexpected exceptions become a logged 500 that reveals nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gatewayd.errors import Conflict, Forbidden, NotFound, Throttled, ValidationFailed

logger = logging.getLogger(__name__)

UNAUTHENTICATED_MESSAGE = "Unauthenticated."
SERVER_ERROR_MESSAGE = "Server Error."
NOT_FOUND_MESSAGE = "Not Found."
FORBIDDEN_MESSAGE = "This action is unauthorized."

# Reasons as Laravel words them, for the statuses aiohttp raises on its own (unknown route, wrong method,
# oversized body); anything else falls back to the HTTP reason phrase.
_FRAMEWORK_MESSAGES: Mapping[int, str] = {
    404: NOT_FOUND_MESSAGE,
    405: "Method Not Allowed.",
    413: "Content Too Large.",
}


class Unauthenticated(Exception):
    """No bearer token, or one that matches no key, token or OAuth grant. `reason` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedRequest(Exception):
    """The body could not be read as the JSON object the route expects; the message quotes the evidence."""


class TooManyAttempts(Exception):
    """A throttle refused the request; clients may retry after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """The `{"message": ...}` body every error response carries, with route-specific extras."""
    return {"message": message, **extra}


def validation_message(errors: Mapping[str, list[str]]) -> str:
    """Laravel's summary line: the first message, plus how many others there are."""
    messages = [message for field_messages in errors.values() for message in field_messages]
    if not messages:
        return "The given data was invalid."
    others = len(messages) - 1
    if others == 0:
        return messages[0]
    return f"{messages[0]} (and {others} more error{'s' if others > 1 else ''})"


def response_for(error: BaseException) -> web.Response | None:
    """The documented response for a known error, or None when the error is unexpected."""
    match error:
        case Unauthenticated():
            return web.json_response(error_body(UNAUTHENTICATED_MESSAGE), status=401)
        case Forbidden():
            return web.json_response(error_body(str(error) or FORBIDDEN_MESSAGE), status=403)
        case NotFound():
            # Never echo the domain message: it may name the thing that exists in another organisation.
            return web.json_response(error_body(NOT_FOUND_MESSAGE), status=404)
        case Conflict():
            return web.json_response(error_body(str(error) or "Conflict.", **dict(error.details)), status=409)
        case ValidationFailed():
            errors = {field: list(messages) for field, messages in error.errors.items()}
            return web.json_response(error_body(validation_message(errors), errors=errors), status=422)
        case MalformedRequest():
            return web.json_response(error_body(str(error)), status=400)
        case json.JSONDecodeError() | UnicodeDecodeError():
            # A handler that parsed a body itself (not through api/requests.py) must still answer 400.
            return web.json_response(error_body(f"Malformed JSON body: {error}"), status=400)
        case TooManyAttempts() | Throttled():
            return web.json_response(error_body("Too Many Attempts."), status=429,
                                     headers={"Retry-After": str(error.retry_after_s)})
        case _:
            return None


def _json_from_http_exception(exc: web.HTTPException) -> web.Response:
    message = _FRAMEWORK_MESSAGES.get(exc.status, f"{exc.reason}.")
    headers = {name: value for name, value in exc.headers.items() if name.lower() in {"allow", "retry-after"}}
    return web.json_response(error_body(message), status=exc.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: every failure leaves as documented JSON, never as an HTML page or a trace."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects (the OAuth pages) are not errors
        return _json_from_http_exception(exc)
    except Exception as exc:
        known = response_for(exc)
        if known is not None:
            return known
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(error_body(SERVER_ERROR_MESSAGE), status=500)
