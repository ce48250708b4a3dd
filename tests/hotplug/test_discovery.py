"""Port discovery over recorded udev property sets of real devices (tests/hotplug/data/*.udev)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.hardware.loader import load_bank_maps, load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import BankLayout, ModemProfile
from gatewayd.hotplug.discovery import PortDecision, decide_port

DATA = Path(__file__).parent / "data"
PROFILES = load_profiles(shipped_hardware_directory() / "modems")
BANKS = load_bank_maps(DATA / "banks")


def read_udev(name: str) -> dict[str, str]:
    """A `udevadm info --query=property` dump as a dict."""
    lines = (DATA / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def decide(name: str, banks: BankLayout = BANKS) -> PortDecision:
    return decide_port(read_udev(name), PROFILES, banks)


# file → (role, profile, port_key, slot label)
HUB = "pci-0000:00:14.0-usb-0:"
EXPECTED = {
    "quectel-ec25-if00.udev": ("ignore", "quectel-ec25", HUB + "1.2:1.0-if00", "A02"),
    "quectel-ec25-if01.udev": ("ignore", "quectel-ec25", HUB + "1.2:1.1-if01", "A02"),
    "quectel-ec25-if02.udev": ("at", "quectel-ec25", HUB + "1.2:1.2-if02", "A02"),
    "quectel-ec25-if03.udev": ("ignore", "quectel-ec25", HUB + "1.2:1.3-if03", "A02"),
    "quectel-ec25-if04-wwan0.udev": ("ignore", "quectel-ec25", HUB + "1.2:1.4-if04", "A02"),
    "simcom-sim7600-if02.udev": ("at", "simcom-sim7600", HUB + "1.4.2:1.2-if02", None),
    "simcom-sim7600-if03.udev": ("ignore", "simcom-sim7600", HUB + "1.4.2:1.3-if03", None),
    "huawei-e3372-stick-if00.udev": ("at", "huawei-e3372-stick", HUB + "2:1.0-if00", "B01"),
    "huawei-e3372-stick-if01.udev": ("ignore", "huawei-e3372-stick", HUB + "2:1.1-if01", "B01"),
    "huawei-e3372-hilink-eth.udev": ("hilink", "huawei-e3372-hilink", HUB + "3:1.0-if00", None),
    "ftdi-ft232r.udev": ("unknown", None, HUB + "5:1.0-if00", None),
    "ch340-sim800.udev": ("at", "simcom-sim800", HUB + "1.3:1.0-if00", "A03-sim800"),
    "platform-ttyS0.udev": ("ignore", None, None, None),
}


def test_every_recorded_device_has_an_expectation() -> None:
    assert sorted(path.name for path in DATA.glob("*.udev")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_device_decision(name: str) -> None:
    decision = decide(name)
    role, profile, port_key, label = EXPECTED[name]
    assert (decision.role, decision.profile_name, decision.port_key) == (role, profile, port_key)
    assert (decision.slot.label if decision.slot else None) == label
    assert decision.reason
    assert decision.devname == (read_udev(name).get("DEVNAME") or read_udev(name).get("INTERFACE"))


def test_at_port_gets_the_stable_symlink_of_the_udev_rules() -> None:
    decision = decide("quectel-ec25-if02.udev")
    assert decision.stable_path == "/dev/simrelay/by-path/pci-0000:00:14.0-usb-0:1.2:1.2-if02"
    assert decision.usb_path == "pci-0000:00:14.0-usb-0:1.2"
    assert decision.warnings == ()


def test_reasons_name_the_evidence() -> None:
    assert "diag" in decide("quectel-ec25-if00.udev").reason
    assert "0403:6001" in decide("ftdi-ft232r.udev").reason
    assert "ftdi_sio" in decide("ftdi-ft232r.udev").reason
    hilink = decide("huawei-e3372-hilink-eth.udev").reason
    assert "no AT port" in hilink and "1506" in hilink
    assert "A03-sim800" in decide("ch340-sim800.udev").reason


def test_port_without_our_udev_rules_warns_about_modemmanager() -> None:
    warnings = decide("simcom-sim7600-if02.udev").warnings
    assert any("ID_MM_DEVICE_IGNORE" in warning for warning in warnings)
    assert any("SIMRELAY_ROLE" in warning for warning in warnings)


def test_udev_tag_that_disagrees_with_profiles_is_reported() -> None:
    properties = read_udev("quectel-ec25-if03.udev") | {"SIMRELAY_ROLE": "at"}
    decision = decide_port(properties, PROFILES, BANKS)
    assert decision.role == "ignore"
    assert any("SIMRELAY_ROLE=at" in warning for warning in decision.warnings)


def test_ftdi_adapter_becomes_an_at_port_once_a_bank_slot_names_its_profile() -> None:
    ftdi_slot = replace(BANKS.slots["pci-0000:00:14.0-usb-0:1.2"], usb_path="pci-0000:00:14.0-usb-0:5",
                        label="C01", profile="wavecom-fastrack")
    banks = BankLayout(MappingProxyType({ftdi_slot.usb_path: ftdi_slot}))
    decision = decide("ftdi-ft232r.udev", banks)
    assert (decision.role, decision.profile_name, decision.slot) == ("at", "wavecom-fastrack", ftdi_slot)


def test_slot_naming_a_missing_profile_is_unknown_with_the_bank_file_as_evidence() -> None:
    slot = BANKS.slots["pci-0000:00:14.0-usb-0:1.3"]
    banks = BankLayout(MappingProxyType({slot.usb_path: replace(slot, profile="nokia-3310")}))
    decision = decide("ch340-sim800.udev", banks)
    assert decision.role == "unknown"
    assert "nokia-3310" in decision.reason and "rack.toml" in decision.reason


def test_forced_profile_on_a_bridge_interface_other_than_the_at_one_is_ignored() -> None:
    properties = read_udev("ch340-sim800.udev") | {"ID_USB_INTERFACE_NUM": "01"}
    assert decide_port(properties, PROFILES, BANKS).role == "ignore"


def test_without_bank_map_the_port_is_still_decided() -> None:
    decision = decide("quectel-ec25-if02.udev", BankLayout())
    assert (decision.role, decision.slot) == ("at", None)


@given(number=st.integers(min_value=0, max_value=255), name=st.sampled_from(sorted(EXPECTED)))
def test_decision_does_not_depend_on_the_tty_number(number: int, name: str) -> None:
    """Field lesson 5: ttyUSB numbers move after a reboot; role, profile, key and slot must not."""
    properties = read_udev(name)
    renumbered = properties | {"DEVNAME": f"/dev/ttyUSB{number}"} if "DEVNAME" in properties else properties
    first, second = decide_port(properties, PROFILES, BANKS), decide_port(renumbered, PROFILES, BANKS)
    assert (first.role, first.profile_name, first.port_key, first.slot) == \
        (second.role, second.profile_name, second.port_key, second.slot)


@given(upper=st.booleans(), short_interface=st.booleans())
def test_id_spelling_does_not_change_the_decision(upper: bool, short_interface: bool) -> None:
    properties = read_udev("quectel-ec25-if02.udev")
    if upper:
        properties |= {"ID_VENDOR_ID": "2C7C", "ID_MODEL_ID": "0125"}
    if short_interface:
        properties |= {"ID_USB_INTERFACE_NUM": "2"}
    decision = decide_port(properties, PROFILES, BANKS)
    assert (decision.role, decision.port_key) == ("at", HUB + "1.2:1.2-if02")


def test_profiles_without_at_port_never_yield_an_at_port() -> None:
    no_at: list[ModemProfile] = [profile for profile in PROFILES.values() if not profile.has_at_port]
    assert no_at
    for profile in no_at:
        for usb in profile.usb:
            for interface in ("00", "01", "02", "03"):
                properties = read_udev("quectel-ec25-if02.udev") | {
                    "ID_VENDOR_ID": usb.vendor_id, "ID_MODEL_ID": usb.product_id,
                    "ID_USB_INTERFACE_NUM": interface}
                assert decide_port(properties, PROFILES, BANKS).role == "hilink"
