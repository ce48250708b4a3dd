"""Query and body parsing: Laravel-shaped 422s naming the field, 400 for bodies that are not JSON."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.requests import (
    MAX_PAGE,
    FieldErrors,
    boolean_field,
    enum_field,
    integer_field,
    page_request,
    string_field,
)
from gatewayd.errors import ValidationFailed


def parse(**query: str) -> tuple[int, int]:
    request = page_request(query, default_per_page=50, max_per_page=100)
    return request.page, request.per_page


def rejected_fields(**query: str) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as caught:
        parse(**query)
    return caught.value.errors


def test_defaults_when_absent() -> None:
    assert parse() == (1, 50)


def test_limit_is_an_alias_and_per_page_wins() -> None:
    assert parse(limit="7") == (1, 7)
    assert parse(per_page="3", limit="7", page="2") == (2, 3)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"per_page": "0"}, "per_page", "The per page field must be at least 1."),
        ({"per_page": "101"}, "per_page", "The per page field must not be greater than 100."),
        ({"limit": "0"}, "limit", "The limit field must be at least 1."),
        ({"page": "0"}, "page", "The page field must be at least 1."),
        ({"page": "abc"}, "page", "The page field must be an integer."),
        ({"page": "1.5"}, "page", "The page field must be an integer."),
        ({"page": str(MAX_PAGE + 1)}, "page", f"The page field must not be greater than {MAX_PAGE}."),
        ({"page": "9" * 40}, "page", "The page field must be an integer."),
    ],
)
def test_each_bad_value_names_its_field(query: dict[str, str], field: str, message: str) -> None:
    assert rejected_fields(**query) == {field: [message]}


def test_all_bad_fields_are_reported_together() -> None:
    assert set(rejected_fields(page="x", per_page="500", limit="-1")) == {"page", "per_page", "limit"}


@given(st.text(max_size=30))
def test_any_per_page_text_is_a_valid_size_or_a_422_naming_per_page(text: str) -> None:
    try:
        _, per_page = parse(per_page=text)
    except ValidationFailed as failure:
        assert list(failure.errors) == ["per_page"]
    else:
        assert 1 <= per_page <= 100


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_integer_bounds_are_exact(value: int) -> None:
    errors = FieldErrors()
    parsed = integer_field(errors, {"n": str(value)}, "n", default=None, minimum=1, maximum=100)
    assert (parsed == value) == (1 <= value <= 100)
    assert bool(errors) == (parsed is None)


def test_json_integers_accepted_but_not_booleans_or_fractions() -> None:
    errors = FieldErrors()
    assert integer_field(errors, {"n": 5}, "n", default=None) == 5
    assert integer_field(errors, {"b": True}, "b", default=None) is None
    assert integer_field(errors, {"f": 1.5}, "f", default=None) is None
    with pytest.raises(ValidationFailed) as caught:
        errors.raise_if_any()
    assert set(caught.value.errors) == {"b", "f"}


def test_string_enum_and_boolean_fields() -> None:
    errors = FieldErrors()
    body = {"name": "x" * 256, "mode": "sometimes", "flag": "yes", "ok": "1", "to": 5}
    assert string_field(errors, body, "name", required=True, max_length=255) is None
    assert string_field(errors, body, "missing", required=True) is None
    assert string_field(errors, body, "to", required=True) is None
    assert enum_field(errors, body, "mode", allowed=("always", "lock_required"), required=True) is None
    assert boolean_field(errors, body, "flag", default=None) is None
    assert boolean_field(errors, body, "ok", default=None) is True
    with pytest.raises(ValidationFailed) as caught:
        errors.raise_if_any()
    assert caught.value.errors == {
        "name": ["The name field must not be greater than 255 characters."],
        "missing": ["The missing field is required."],
        "to": ["The to field must be a string."],
        "mode": ["The selected mode is invalid."],
        "flag": ["The flag field must be true or false."],
    }
