"""Identities of emulated modems and the modem-side command-line parser."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.fakemodem.commandline import (
    CommandKind,
    CommandLineError,
    find_command_body,
    split_arguments,
    split_commands,
)
from gatewayd.fakemodem.identity import ModemIdentity, luhn_check_digit, luhn_valid

indexes = st.integers(min_value=0, max_value=9_999)
seeds = st.integers(min_value=0, max_value=9_999)


@pytest.mark.parametrize(("body", "digit"), [("7992739871", "3"), ("49015420323751", "8")])
def test_luhn_check_digit_known_values(body: str, digit: str) -> None:
    assert luhn_check_digit(body) == digit
    assert luhn_valid(body + digit)
    assert not luhn_valid(body + str((int(digit) + 1) % 10))


@given(indexes, seeds)
def test_identity_numbers_are_well_formed(index: int, seed: int) -> None:
    identity = ModemIdentity.for_index(index, seed)
    assert len(identity.imei) == 15 and luhn_valid(identity.imei)
    assert len(identity.iccid) == 19 and identity.iccid.startswith("89") and luhn_valid(identity.iccid)
    assert len(identity.imsi) == 15 and identity.imsi.isdigit()
    assert phonenumbers.is_valid_number(phonenumbers.parse(identity.phone_number))
    assert ModemIdentity.for_index(index, seed) == identity


@given(st.tuples(indexes, seeds), st.tuples(indexes, seeds))
def test_distinct_slots_have_distinct_identifiers(a: tuple[int, int], b: tuple[int, int]) -> None:
    first, second = ModemIdentity.for_index(*a), ModemIdentity.for_index(*b)
    for field in ("imei", "iccid", "imsi", "phone_number"):
        assert (getattr(first, field) == getattr(second, field)) == (a == b)


def test_identity_refuses_indexes_out_of_range() -> None:
    with pytest.raises(ValueError, match="10000"):
        ModemIdentity.for_index(10_000)


def test_command_line_splitting() -> None:
    commands = split_commands('E0;+CMEE=1;+CPMS="SM","ME";+CSCA?;+CPMS=?;+CGMI')
    assert [(c.name, c.kind, c.args) for c in commands] == [
        ("E", CommandKind.SET, ("0",)),
        ("+CMEE", CommandKind.SET, ("1",)),
        ("+CPMS", CommandKind.SET, ("SM", "ME")),
        ("+CSCA", CommandKind.QUERY, ()),
        ("+CPMS", CommandKind.TEST, ()),
        ("+CGMI", CommandKind.EXECUTE, ()),
    ]
    assert [c.text for c in split_commands("E0V1&FZ")] == ["E0", "V1", "&F", "Z"]
    assert split_arguments('"a,b";"c", 3') == ("a,b;c", "3")


@pytest.mark.parametrize("body", ["@", "+CMGL?x", '+CPMS="SM', "!"])
def test_malformed_command_lines_raise_with_the_line(body: str) -> None:
    with pytest.raises(CommandLineError) as raised:
        split_commands(body)
    assert raised.value.line in body


def test_text_before_the_prefix_is_ignored() -> None:
    assert find_command_body("\x00junkAT+CSQ") == "+CSQ"
    assert find_command_body("hello") is None
