"""Reading request input: the JSON body and query parameters, validated into plain values.

Failures become `MalformedRequest` (400: not JSON at all) or `ValidationFailed` (422, naming each field
with Laravel's wording). This module does not know any route; it must not call services.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.errors import MalformedRequest
from gatewayd.errors import ValidationFailed

_INTEGER_TEXT = re.compile(r"[+-]?\d{1,18}")
_EVIDENCE_CHARS = 60
# The page number is capped so that the row offset (page - 1) * per_page always fits a 64-bit SQL
# integer; an unbounded page would reach the database as an overflow (a 500) instead of a 422.
MAX_PAGE = 1_000_000_000


class FieldErrors:
    """Collects every problem of one request so the 422 lists them all at once, as Laravel does."""

    def __init__(self) -> None:
        self._errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self._errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self._errors)

    def raise_if_any(self) -> None:
        if self._errors:
            raise ValidationFailed({field: list(messages) for field, messages in self._errors.items()})


def integer_field(errors: FieldErrors, source: Mapping[str, Any], field: str, *, default: int | None,
                  minimum: int | None = None, maximum: int | None = None) -> int | None:
    """An integer from a query string or JSON body (Laravel's `integer|min|max`); None/default if absent.

    JSON numbers and decimal text are accepted (query values are always text); booleans and fractions
    are not. On failure the error is recorded and `default` returned, so parsing can go on.
    """
    if field not in source or source[field] is None or source[field] == "":
        return default
    raw = source[field]
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None:
        errors.add(field, f"The {_label(field)} field must be an integer.")
        return default
    if minimum is not None and value < minimum:
        errors.add(field, f"The {_label(field)} field must be at least {minimum}.")
        return default
    if maximum is not None and value > maximum:
        errors.add(field, f"The {_label(field)} field must not be greater than {maximum}.")
        return default
    return value


def string_field(errors: FieldErrors, source: Mapping[str, Any], field: str, *, required: bool,
                 max_length: int | None = None, min_length: int = 0) -> str | None:
    """A string (Laravel's `required|string|min|max`, lengths in characters); None if absent and optional."""
    raw = source.get(field)
    if raw is None or raw == "":
        if required:
            errors.add(field, f"The {_label(field)} field is required.")
        return None
    if not isinstance(raw, str):
        errors.add(field, f"The {_label(field)} field must be a string.")
        return None
    if len(raw) < min_length:
        errors.add(field, f"The {_label(field)} field must be at least {min_length} characters.")
        return None
    if max_length is not None and len(raw) > max_length:
        errors.add(field, f"The {_label(field)} field must not be greater than {max_length} characters.")
        return None
    return raw


def boolean_field(errors: FieldErrors, source: Mapping[str, Any], field: str, *,
                  default: bool | None) -> bool | None:
    """A boolean (Laravel's `boolean`: true/false, 1/0, "1"/"0", "true"/"false")."""
    if field not in source or source[field] is None:
        return default
    raw = source[field]
    accepted: dict[object, bool] = {True: True, False: False, "1": True, "0": False,
                                    "true": True, "false": False}
    if isinstance(raw, bool | str) and raw in accepted:
        return accepted[raw]
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    errors.add(field, f"The {_label(field)} field must be true or false.")
    return default


def enum_field(errors: FieldErrors, source: Mapping[str, Any], field: str, *, allowed: tuple[str, ...],
               required: bool) -> str | None:
    """One of a fixed set of strings (Laravel's `in:`)."""
    raw = source.get(field)
    if raw is None or raw == "":
        if required:
            errors.add(field, f"The {_label(field)} field is required.")
        return None
    if not isinstance(raw, str) or raw not in allowed:
        errors.add(field, f"The selected {_label(field)} is invalid.")
        return None
    return raw


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}` (clients POST lock with no body)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"Malformed JSON body: not UTF-8 at byte {exc.start}: "
                               f"{raw[:_EVIDENCE_CHARS]!r}") from exc
    except json.JSONDecodeError as exc:
        raise MalformedRequest(f"Malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}: "
                               f"{_excerpt(exc.doc, exc.pos)!r}") from exc
    if not isinstance(parsed, dict):
        raise MalformedRequest(f"The request body must be a JSON object, got {type(parsed).__name__}.")
    return parsed


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int
    per_page: int


def page_request(query: Mapping[str, str], *, default_per_page: int, max_per_page: int,
                 size_fields: tuple[str, ...] = ("per_page", "limit")) -> PageRequest:
    """`page` (>= 1, default 1) and the page size from the first present of `size_fields` (1..max).

    Every present field is validated, so `?per_page=10&limit=0` is still a 422 naming `limit`.
    """
    errors = FieldErrors()
    page = integer_field(errors, query, "page", default=1, minimum=1, maximum=MAX_PAGE)
    sizes = [integer_field(errors, query, field, default=None, minimum=1, maximum=max_per_page)
             for field in size_fields]
    errors.raise_if_any()
    per_page = next((size for size in sizes if size is not None), default_per_page)
    return PageRequest(page=page if page is not None else 1, per_page=per_page)


def _label(field: str) -> str:
    """Laravel writes the attribute name with underscores as spaces ("The per page field ...")."""
    return field.replace("_", " ")


def _excerpt(document: str, position: int) -> str:
    start = max(0, position - _EVIDENCE_CHARS // 2)
    return document[start:start + _EVIDENCE_CHARS]
