"""Profile choice by USB id (before opening a port) and by the modem's model reply (after)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.matching import (
    generic_profile,
    identify_usb,
    interface_role,
    profile_for_model,
    profile_for_usb,
)

PROFILES = load_profiles(shipped_hardware_directory() / "modems")


@pytest.mark.parametrize(
    ("vendor", "product", "profile", "at_interface"),
    [
        ("2c7c", "0125", "quectel-ec25", "02"),
        ("05C6", "9215", "quectel-ec20", "02"),
        ("1e0e", "9001", "simcom-sim7600", "02"),
        ("12d1", "1506", "huawei-e3372-stick", "00"),
        ("12d1", "14dc", "huawei-e3372-hilink", None),
        ("12d1", "15c1", "huawei-me909", "04"),
        ("1199", "68c0", "sierra-mc7304", "03"),
    ],
)
def test_usb_id_picks_profile_and_at_interface(vendor: str, product: str, profile: str,
                                               at_interface: str | None) -> None:
    identity = identify_usb(PROFILES, vendor, product)
    assert identity is not None
    assert (identity.profile.name, identity.usb.at_interface) == (profile, at_interface)
    if at_interface is not None:
        assert interface_role(PROFILES, vendor, product, at_interface) == "at"


def test_unknown_usb_id_falls_back_to_generic() -> None:
    assert identify_usb(PROFILES, "0403", "6001") is None
    assert profile_for_usb(PROFILES, "0403", "6001").name == "generic"
    assert interface_role(PROFILES, "0403", "6001", "00") is None


@pytest.mark.parametrize(
    ("current", "reply", "chosen"),
    [
        ("quectel-ec25", "EG25", "quectel-eg25"),
        ("quectel-ec25", "EC25EFAR06A09M4G", "quectel-ec25"),
        ("quectel-ec25", "EC20F", "quectel-ec20"),
        ("generic", "SIMCOM_SIM800L", "simcom-sim800"),
        ("generic", "SIMCOM_SIM7600G-H", "simcom-sim7600"),
        ("generic", "E3372", "huawei-e3372-stick"),
        ("generic", "ME909s-120", "huawei-me909"),
        ("generic", "MULTIBAND  900E  1800", "wavecom-fastrack"),
        ("generic", "SuperModem 3000", "generic"),
        ("simcom-sim7600", "", "simcom-sim7600"),
    ],
)
def test_model_reply_refines_the_profile(current: str, reply: str, chosen: str) -> None:
    assert profile_for_model(PROFILES, reply, PROFILES[current]).name == chosen


def test_missing_generic_profile_is_a_clear_error() -> None:
    without = MappingProxyType({name: p for name, p in PROFILES.items() if name != "generic"})
    with pytest.raises(LookupError, match="generic"):
        generic_profile(without)
