"""udev/99-simrelay.rules: every line parses, and the rules agree with the profiles and with discovery.

No udevadm here (and `udevadm verify` needs systemd >= 253), so a small evaluator runs the rules over the
recorded property sets of tests/hotplug/data. It implements only what the file uses: ==/!= on ENV, SUBSYSTEM,
ACTION, ATTR (glob patterns with "|"); =/+= on ENV, TAG, GROUP, MODE, SYMLINK; GOTO/LABEL. SUBSYSTEMS=="usb"
is taken as ID_BUS=usb, and IMPORT is a no-op because the recorded sets already hold its results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from gatewayd.hardware.loader import load_bank_maps, load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import BankLayout
from gatewayd.hotplug.discovery import decide_port

RULES_FILE = Path(__file__).resolve().parents[2] / "udev" / "99-simrelay.rules"
DATA = Path(__file__).resolve().parents[1] / "hotplug" / "data"
PROFILES = load_profiles(shipped_hardware_directory() / "modems")

PAIR = re.compile(r'\s*([A-Z_]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "ATTR", "ATTRS", "ENV", "KERNEL", "DRIVERS", "TAG"}
ASSIGN_KEYS = {"ENV", "TAG", "GROUP", "MODE", "SYMLINK", "GOTO", "LABEL", "IMPORT", "OWNER", "RUN"}

Pair = tuple[str, str | None, str, str]


def parse_rules(text: str) -> list[list[Pair]]:
    rules: list[list[Pair]] = []
    for number, line in enumerate(text.replace("\\\n", "").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, position = [], 0
        while position < len(line):
            found = PAIR.match(line, position)
            assert found, f"{RULES_FILE.name}:{number}: cannot parse at {position}: {line[position:]!r}"
            key, attribute, operator, value = found.groups()
            allowed = MATCH_KEYS if operator in ("==", "!=") else ASSIGN_KEYS
            assert key in allowed, f"{RULES_FILE.name}:{number}: {key}{operator} is not a udev operation"
            pairs.append((key, attribute, operator, value))
            position = found.end()
        rules.append(pairs)
    return rules


RULES = parse_rules(RULES_FILE.read_text())


@dataclass
class Outcome:
    env: dict[str, str]
    tags: set[str] = field(default_factory=set)
    symlinks: list[str] = field(default_factory=list)
    group: str | None = None
    mode: str | None = None


def run_rules(properties: Mapping[str, str], attributes: Mapping[str, str] | None = None,
              action: str = "add") -> Outcome:
    outcome = Outcome(env=dict(properties))
    attributes = attributes or {}
    skipping_to: str | None = None
    for pairs in RULES:
        if skipping_to is not None:
            if pairs[0][0] == "LABEL" and pairs[0][3] == skipping_to:
                skipping_to = None
            continue
        if all(_matches(pair, outcome.env, attributes, action) for pair in pairs if pair[2] in ("==", "!=")):
            skipping_to = _assign(outcome, [pair for pair in pairs if pair[2] not in ("==", "!=")])
    return outcome


def _matches(pair: Pair, env: Mapping[str, str], attributes: Mapping[str, str], action: str) -> bool:
    key, attribute, operator, pattern = pair
    actual = {
        "ACTION": action, "SUBSYSTEM": env.get("SUBSYSTEM", ""),
        "SUBSYSTEMS": "usb" if env.get("ID_BUS") == "usb" or attributes else "",
        "ENV": env.get(attribute or "", ""), "ATTR": attributes.get(attribute or "", ""),
    }[key]
    hit = any(fnmatchcase(actual, alternative) for alternative in pattern.split("|"))
    return hit if operator == "==" else not hit


def _assign(outcome: Outcome, pairs: list[Pair]) -> str | None:
    for key, attribute, _operator, value in pairs:
        expanded = re.sub(r"\$env\{([^}]+)\}", lambda m: outcome.env.get(m.group(1), ""), value)
        if key == "ENV":
            outcome.env[attribute or ""] = expanded
        elif key == "TAG":
            outcome.tags.add(expanded)
        elif key == "SYMLINK":
            outcome.symlinks.append("/dev/" + expanded)
        elif key == "GROUP":
            outcome.group = expanded
        elif key == "MODE":
            outcome.mode = expanded
        elif key == "GOTO":
            return expanded
    return None


def read_udev(path: Path, *, without_our_keys: bool = True) -> dict[str, str]:
    properties = dict(line.split("=", 1) for line in path.read_text().splitlines() if line)
    if without_our_keys:  # the recorded sets of EC25 were taken with our rules installed: start clean
        for key in ("SIMRELAY_ROLE", "SIMRELAY_PROFILE", "ID_MM_DEVICE_IGNORE"):
            properties.pop(key, None)
    return properties


def test_every_goto_has_its_label() -> None:
    labels = {pairs[0][3] for pairs in RULES if pairs[0][0] == "LABEL"}
    gotos = {value for pairs in RULES for key, _a, _o, value in pairs if key == "GOTO"}
    assert gotos <= labels and labels


def test_every_usb_id_of_a_shipped_profile_has_rules() -> None:
    for profile in PROFILES.values():
        for usb in profile.usb:
            properties = {"SUBSYSTEM": "tty", "ID_BUS": "usb", "ID_VENDOR_ID": usb.vendor_id,
                          "ID_MODEL_ID": usb.product_id, "ID_PATH": "pci-0000:00:14.0-usb-0:9:1.0"}
            if usb.at_interface is None:
                net = run_rules(properties | {"SUBSYSTEM": "net"})
                device = run_rules({"SUBSYSTEM": "usb", "DEVTYPE": "usb_device"},
                                   {"idVendor": usb.vendor_id, "idProduct": usb.product_id})
                assert "hilink" in (net.env.get("SIMRELAY_ROLE"), device.env.get("SIMRELAY_ROLE")), usb
                continue
            for interface in sorted({usb.at_interface, *usb.role_by_interface}):
                outcome = run_rules(properties | {"ID_USB_INTERFACE_NUM": interface})
                assert outcome.env.get("ID_MM_DEVICE_IGNORE") == "1", (profile.name, interface)
                assert outcome.env.get("SIMRELAY_PROFILE") == profile.name
                is_at = interface == usb.at_interface
                assert (outcome.env.get("SIMRELAY_ROLE") == "at") is is_at, (profile.name, interface)
                assert ("simrelay" in outcome.tags) is is_at
            device = run_rules({"SUBSYSTEM": "usb", "DEVTYPE": "usb_device"},
                               {"idVendor": usb.vendor_id, "idProduct": usb.product_id})
            assert device.env.get("ID_MM_DEVICE_IGNORE") == "1", profile.name


@pytest.mark.parametrize("path", sorted(DATA.glob("*.udev")), ids=lambda path: path.name)
def test_rules_and_discovery_agree_on_recorded_devices(path: Path) -> None:
    """Without bank maps (which udev cannot see), a port is tagged "at" exactly when discovery opens it."""
    properties = read_udev(path)
    outcome = run_rules(properties)
    decision = decide_port(outcome.env, PROFILES, BankLayout())
    assert (outcome.env.get("SIMRELAY_ROLE") == "at") is (decision.role == "at")
    if decision.role == "at":
        assert outcome.symlinks == [decision.stable_path]
        assert (outcome.group, outcome.mode, decision.warnings) == ("dialout", "0660", ())
    if decision.role == "hilink":
        assert outcome.env.get("SIMRELAY_ROLE") == "hilink"


def test_ch340_of_a_bank_slot_needs_a_local_rule_and_says_so() -> None:
    properties = read_udev(DATA / "ch340-sim800.udev")
    outcome = run_rules(properties)
    decision = decide_port(outcome.env, PROFILES, load_bank_maps(DATA / "banks"))
    assert decision.role == "at" and "SIMRELAY_ROLE" not in outcome.env
    assert any("did not tag" in warning for warning in decision.warnings)


def test_remove_events_are_left_alone() -> None:
    properties = read_udev(DATA / "quectel-ec25-if02.udev")
    assert run_rules(properties, action="remove").env == properties
