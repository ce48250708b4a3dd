"""The small pure behaviours of the profile types: PIN attempts replies, timeouts by command, id spelling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import (
    CommandTimeouts,
    PinAttemptsQuery,
    normalize_interface,
    normalize_usb_id,
)

PROFILES = load_profiles(shipped_hardware_directory() / "modems")


@pytest.mark.parametrize(
    ("profile", "line", "attempts"),
    [
        ("quectel-ec25", '+QPINC: "SC",3,10', 3),
        ("quectel-ec25", '+QPINC: "SC",1,10', 1),
        ("simcom-sim7600", "+SPIC: 2,10,3,10", 2),
        ("simcom-sim800", "+SPIC: 3,3,10,10", 3),
        ("huawei-e3372-stick", "^CPIN: READY,,10,3,10,3", 3),
        ("huawei-e3372-stick", "^CPIN: SIM PIN,2,10,2,10,3", 2),
        ("generic", "+CPINR: SIM PIN,3,3", 3),
        ("wavecom-fastrack", "+CPINC: 1,3,10,10", 1),
        ("quectel-ec25", "+CME ERROR: 10", None),
        ("huawei-e3372-stick", "^CPIN: READY", None),
        ("quectel-ec25", '+QPINC: "SC",,10', None),
    ],
)
def test_pin_attempts_are_read_from_each_vendor_reply(profile: str, line: str, attempts: int | None) -> None:
    query = PROFILES[profile].pin_attempts
    assert query is not None
    assert query.read(line) == attempts


@given(st.text(max_size=40))
def test_pin_attempts_reader_never_raises(line: str) -> None:
    value = PinAttemptsQuery("AT+X", "+X:", 1).read(line)
    assert value is None or value >= 0


def test_timeouts_follow_the_command() -> None:
    timeouts = CommandTimeouts(default_s=5, cmgs_s=120, cmgl_s=30, cops_s=180, init_s=10)
    assert timeouts.for_command("AT+CMGS=23") == 120
    assert timeouts.for_command("at+cmgl=4") == 30
    assert timeouts.for_command("AT+COPS=?") == 180
    assert timeouts.for_command("AT+CSQ") == 5


def test_storage_command_sets_all_three_memories() -> None:
    assert PROFILES["generic"].storage_command == 'AT+CPMS="SM","SM","SM"'


@given(st.integers(min_value=0, max_value=0xFFFF), st.booleans())
def test_usb_id_spellings_normalize_like_udev(number: int, upper: bool) -> None:
    spelled = f"{number:x}".upper() if upper else f"0x{number:x}"
    assert normalize_usb_id(spelled) == f"{number:04x}"


@given(st.integers(min_value=0, max_value=0xFF))
def test_interface_spellings_normalize_like_udev(number: int) -> None:
    assert normalize_interface(f"{number:X}") == f"{number:02x}"


def test_role_of_accepts_any_interface_spelling() -> None:
    usb = PROFILES["quectel-ec25"].usb[0]
    roles = (usb.role_of("2"), usb.role_of("02"), usb.role_of("00"), usb.role_of("09"))
    assert roles == ("at", "at", "diag", None)
