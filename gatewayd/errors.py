"""Domain errors shared across layers. Each carries its evidence; only api/errors.py maps them to HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SimRelayError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SimRelayError):
    """A configuration value is missing or invalid; the message names the source file and key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class NotFound(SimRelayError):
    """The thing does not exist or is outside the caller's organisation (never say which)."""


class Forbidden(SimRelayError):
    """The caller is authenticated but not allowed to do this."""


class Conflict(SimRelayError):
    """The request is valid but conflicts with the current state (e.g. a lock held by someone else).

    `details` are JSON-ready facts the answer may show (a lock's holder and `expires_at`).
    """

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: Mapping[str, Any] = dict(details or {})


class Throttled(SimRelayError):
    """Too many attempts (logins, requests); the caller may retry after `retry_after_s` seconds."""

    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"{what}: retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ValidationFailed(SimRelayError):
    """Input failed validation; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]], message: str | None = None) -> None:
        first = next(iter(errors.values()), ["The given data was invalid."])[0]
        super().__init__(message or first)
        self.errors = errors
