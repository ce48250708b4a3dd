"""Strict TOML loading of modem profiles (hardware/modems) and bank maps (hardware/banks).

An unknown key, a wrong type or a missing required key raises ProfileError naming the file and the key.
Reads files only; imports nothing of ours but the profile types.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import cast

from gatewayd.hardware.profile import (
    DELIVERY_MODES,
    INTERFACE_ROLES,
    STATUS_REPORT_INDICATIONS,
    BankLayout,
    CommandTimeouts,
    DeliveryMode,
    InterfaceRole,
    ModemProfile,
    PinAttemptsQuery,
    SlotLabel,
    StatusReportIndication,
    UsbMatch,
    normalize_interface,
    normalize_usb_id,
    usb_device_path,
)


class ProfileError(ValueError):
    """A profile or bank map file is invalid; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


# Keys a profile may set. "Required" ones must be set by the profile or inherited through `extends`.
_STR_KEYS = ("description", "extends", "no_at_port_reason", "new_message_indication", "delivery_mode",
             "status_report_indication", "reset_command")
_STR_LIST_KEYS = ("at_models", "init_commands", "iccid_commands", "message_storage", "ignored_urcs",
                  "extra_urcs", "extra_final_ok", "extra_final_error", "boot_urcs")
_BOOL_KEYS = ("has_at_port", "ack_direct")
_SECONDS_KEYS = ("watchdog_interval_s", "poll_interval_s", "sweep_interval_s")
_TIMEOUT_KEYS = ("default_s", "cmgs_s", "cmgl_s", "cops_s", "init_s")
_TABLE_KEYS = ("usb", "timeouts", "pin_attempts")
_KNOWN_KEYS = frozenset(_STR_KEYS + _STR_LIST_KEYS + _BOOL_KEYS + _SECONDS_KEYS + _TABLE_KEYS)
# Identity keys describe one concrete model, so a profile that extends another never inherits them.
_NOT_INHERITED = frozenset({"description", "extends", "usb", "at_models"})
_OPTIONAL_DEFAULTS: Mapping[str, object] = MappingProxyType({
    "usb": [], "at_models": [], "no_at_port_reason": "", "extra_urcs": [], "extra_final_ok": [],
    "extra_final_error": [], "ignored_urcs": [], "pin_attempts": None,
})
_USB_KEYS = frozenset({"vendor_id", "product_id", "at_interface", "role_by_interface", "description"})
_PIN_KEYS = frozenset({"command", "response_prefix", "field_index"})
# 3GPP TS 27.005 §3.2.2 (+CPMS): the preferred message storage memories.
_STORAGE_MEMORIES = frozenset({"SM", "ME", "MT", "BM", "SR", "TA"})
_CNMI = re.compile(r"^AT\+CNMI=(\d*)(?:,(\d*))?(?:,(\d*))?(?:,(\d*))?(?:,(\d*))?$", re.IGNORECASE)
_HEX4 = re.compile(r"^[0-9a-f]{4}$")
_HEX2 = re.compile(r"^[0-9a-f]{2}$")

# key → (value, file it came from); the file is the evidence when the value turns out wrong.
_Sourced = dict[str, tuple[object, str]]


def shipped_hardware_directory() -> Path:
    """hardware/ of this source tree (modems/ and banks/); valid in a checkout or an editable install."""
    return Path(__file__).resolve().parents[2] / "hardware"


def read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(str(path), "<toml>", f"not valid TOML: {error}") from error


def load_profiles(directory: Path, *more_directories: Path) -> dict[str, ModemProfile]:
    """Every `*.toml` of the directories as a profile named after its file stem; any may extend any."""
    raw_by_name: dict[str, _Sourced] = {}
    for folder in (directory, *more_directories):
        if not folder.is_dir():
            raise ProfileError(str(folder), "<directory>", "profile directory does not exist")
        for path in sorted(folder.glob("*.toml")):
            name = path.stem
            if name in raw_by_name:
                first = _source_of(raw_by_name[name])
                raise ProfileError(str(path), "<name>", f"profile {name!r} is already defined by {first}")
            raw_by_name[name] = _read_profile_keys(path)
    profiles = {name: _build_profile(name, _resolve(name, raw_by_name, ())) for name in raw_by_name}
    _check_usb_ids_unique(profiles)
    return profiles


def _source_of(raw: _Sourced) -> str:
    return raw["<file>"][1]


def _read_profile_keys(path: Path) -> _Sourced:
    document = read_toml(path)
    source = str(path)
    sourced: _Sourced = {"<file>": (None, source)}
    for key, value in document.items():
        if key not in _KNOWN_KEYS:
            raise ProfileError(source, key, f"unknown key (known: {', '.join(sorted(_KNOWN_KEYS))})")
        if key == "timeouts":
            # Flattened so that a profile overrides one timeout and inherits the rest.
            for sub_key, sub_value in _table(value, source, key).items():
                if sub_key not in _TIMEOUT_KEYS:
                    raise ProfileError(source, f"timeouts.{sub_key}", f"unknown key (known: {_TIMEOUT_KEYS})")
                sourced[f"timeouts.{sub_key}"] = (sub_value, source)
        else:
            sourced[key] = (value, source)
    return sourced


def _resolve(name: str, raw_by_name: Mapping[str, _Sourced], chain: tuple[str, ...]) -> _Sourced:
    raw = raw_by_name[name]
    if "extends" not in raw:
        return raw
    parent_value, source = raw["extends"]
    parent = _expect_str(parent_value, source, "extends")
    if parent in chain or parent == name:
        raise ProfileError(source, "extends", f"cycle: {' → '.join((*chain, name, parent))}")
    if parent not in raw_by_name:
        raise ProfileError(source, "extends", f"no profile named {parent!r} (known: {sorted(raw_by_name)})")
    inherited = _resolve(parent, raw_by_name, (*chain, name))
    merged = {key: item for key, item in inherited.items() if key not in _NOT_INHERITED}
    merged.update(raw)
    return merged


def _build_profile(name: str, raw: _Sourced) -> ModemProfile:
    source = _source_of(raw)

    def get(key: str) -> tuple[object, str]:
        if key in raw:
            return raw[key]
        if key in _OPTIONAL_DEFAULTS:
            return _OPTIONAL_DEFAULTS[key], source
        raise ProfileError(source, key, "required key missing (neither set here nor inherited via `extends`)")

    def text(key: str) -> str:
        return _expect_str(*get(key), key)

    def texts(key: str) -> tuple[str, ...]:
        return _expect_str_list(*get(key), key)

    def flag(key: str) -> bool:
        return _expect_bool(*get(key), key)

    def seconds(key: str) -> float:
        return _expect_positive_number(*get(key), key)

    storage = texts("message_storage")
    profile = ModemProfile(
        name=name, description=text("description"), source=source,
        usb=_parse_usb_list(*get("usb")), at_models=texts("at_models"),
        has_at_port=flag("has_at_port"), no_at_port_reason=text("no_at_port_reason"),
        init_commands=texts("init_commands"), iccid_commands=texts("iccid_commands"),
        message_storage=_storage_triple(storage, get("message_storage")[1]),
        new_message_indication=text("new_message_indication"),
        delivery_mode=cast(DeliveryMode,
                           _expect_choice(*get("delivery_mode"), "delivery_mode", DELIVERY_MODES)),
        ack_direct=flag("ack_direct"),
        status_report_indication=cast(StatusReportIndication, _expect_choice(
            *get("status_report_indication"), "status_report_indication", STATUS_REPORT_INDICATIONS)),
        ignored_urcs=texts("ignored_urcs"), extra_urcs=texts("extra_urcs"),
        extra_final_ok=texts("extra_final_ok"), extra_final_error=texts("extra_final_error"),
        timeouts=CommandTimeouts(**{key: seconds(f"timeouts.{key}") for key in _TIMEOUT_KEYS}),
        pin_attempts=_parse_pin_attempts(*get("pin_attempts")),
        reset_command=text("reset_command"), boot_urcs=texts("boot_urcs"),
        watchdog_interval_s=seconds("watchdog_interval_s"), poll_interval_s=seconds("poll_interval_s"),
        sweep_interval_s=seconds("sweep_interval_s"),
        extends=_expect_str(*raw["extends"], "extends") if "extends" in raw else None,
    )
    _check_consistency(profile, raw)
    return profile


def _storage_triple(memories: tuple[str, ...], source: str) -> tuple[str, str, str]:
    if len(memories) != 3:
        raise ProfileError(source, "message_storage", f"needs exactly three memories (mem1, mem2, mem3), "
                                                      f"got {list(memories)}")
    unknown = [memory for memory in memories if memory not in _STORAGE_MEMORIES]
    if unknown:
        raise ProfileError(source, "message_storage", f"unknown memory {unknown} (3GPP TS 27.005 §3.2.2 "
                                                      f"knows {sorted(_STORAGE_MEMORIES)})")
    return memories[0], memories[1], memories[2]


def _check_consistency(profile: ModemProfile, raw: _Sourced) -> None:
    """Cross-key rules: the CNMI command must do what delivery_mode/status_report_indication claim."""

    def where(key: str) -> str:
        return raw[key][1] if key in raw else profile.source

    hidden = [urc for urc in profile.boot_urcs if profile.is_ignored_urc(urc)]
    if hidden:
        raise ProfileError(where("boot_urcs"), "boot_urcs",
                           f"{hidden} would be dropped by ignored_urcs, so a reboot could never be noticed")

    if not profile.has_at_port:
        if not profile.no_at_port_reason:
            raise ProfileError(where("has_at_port"), "no_at_port_reason",
                               "required when has_at_port = false: operators need the explanation")
        if any(match.at_interface is not None for match in profile.usb):
            raise ProfileError(profile.source, "usb.at_interface", "set although has_at_port = false")
        return
    for index, match in enumerate(profile.usb):
        if match.at_interface is None:
            raise ProfileError(profile.source, f"usb[{index}].at_interface",
                               "required when has_at_port = true")
    cnmi = _CNMI.match(profile.new_message_indication.strip())
    key = "new_message_indication"
    if cnmi is None:
        raise ProfileError(where(key), key, f"not an AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr> command: "
                                            f"{profile.new_message_indication!r}")
    mt, ds = (int(cnmi.group(2) or 0), int(cnmi.group(4) or 0))
    # 3GPP TS 27.005 §3.4.1: mt=1 → +CMTI (stored), mt=2 → +CMT (direct); ds=1 → +CDS, ds=2 → +CDSI.
    expected_mode = {1: "stored", 2: "direct"}.get(mt)
    if expected_mode != profile.delivery_mode:
        raise ProfileError(where("delivery_mode"), "delivery_mode",
                           f"{profile.delivery_mode!r} contradicts <mt>={mt} in "
                           f"{profile.new_message_indication!r}")
    expected_reports = {0: "none", 1: "direct", 2: "stored"}.get(ds)
    if expected_reports != profile.status_report_indication:
        raise ProfileError(where("status_report_indication"), "status_report_indication",
                           f"{profile.status_report_indication!r} contradicts <ds>={ds} in "
                           f"{profile.new_message_indication!r}")
    if profile.ack_direct and "direct" not in (profile.delivery_mode, profile.status_report_indication):
        raise ProfileError(where("ack_direct"), "ack_direct",
                           "true, but nothing is routed directly (+CMT/+CDS) so there is nothing to +CNMA")


def _check_usb_ids_unique(profiles: Mapping[str, ModemProfile]) -> None:
    owner: dict[tuple[str, str], ModemProfile] = {}
    for profile in profiles.values():
        for match in profile.usb:
            usb_id = (match.vendor_id, match.product_id)
            if usb_id in owner:
                first = owner[usb_id]
                raise ProfileError(profile.source, "usb", f"{usb_id[0]}:{usb_id[1]} is already claimed by "
                                                          f"{first.name} ({first.source}); use at_models to "
                                                          f"tell models sharing a USB id apart")
            owner[usb_id] = profile


def _parse_usb_list(value: object, source: str) -> tuple[UsbMatch, ...]:
    if not isinstance(value, list):
        raise ProfileError(source, "usb", f"expected an array of tables ([[usb]]), got {value!r}")
    return tuple(_parse_usb(item, source, f"usb[{index}]") for index, item in enumerate(value))


def _parse_usb(value: object, source: str, key: str) -> UsbMatch:
    table = _table(value, source, key)
    _reject_unknown(table, _USB_KEYS, source, key)
    vendor_id = _usb_hex(table, "vendor_id", source, key, _HEX4)
    product_id = _usb_hex(table, "product_id", source, key, _HEX4)
    at_interface = None
    if "at_interface" in table:
        at_interface = _usb_hex(table, "at_interface", source, key, _HEX2)
    roles: dict[str, InterfaceRole] = {}
    role_table = _table(table.get("role_by_interface", {}), source, f"{key}.role_by_interface")
    for interface, role in role_table.items():
        role_key = f"{key}.role_by_interface.{interface}"
        number = normalize_interface(interface)
        if not _HEX2.match(number):
            raise ProfileError(source, role_key, "interface must be a two-digit hex number like \"02\"")
        roles[number] = cast(InterfaceRole, _expect_choice(role, source, role_key, INTERFACE_ROLES))
    if at_interface is not None and roles.setdefault(at_interface, "at") != "at":
        raise ProfileError(source, f"{key}.role_by_interface.{at_interface}",
                           f"is {roles[at_interface]!r} but at_interface names it as the AT port")
    extra_at = sorted(number for number, role in roles.items() if role == "at" and number != at_interface)
    if extra_at:
        raise ProfileError(source, f"{key}.role_by_interface", f"interfaces {extra_at} are \"at\" but "
                                                              f"at_interface is {at_interface!r}")
    description = _expect_str(table.get("description", ""), source, f"{key}.description")
    return UsbMatch(vendor_id, product_id, at_interface, MappingProxyType(dict(sorted(roles.items()))),
                    description)


def _usb_hex(table: Mapping[str, object], field: str, source: str, key: str, pattern: re.Pattern[str]) -> str:
    if field not in table:
        raise ProfileError(source, f"{key}.{field}", "required key missing")
    raw = _expect_str(table[field], source, f"{key}.{field}")
    value = normalize_usb_id(raw) if pattern is _HEX4 else normalize_interface(raw)
    if not pattern.match(value):
        raise ProfileError(source, f"{key}.{field}", f"not a hex id: {raw!r}")
    return value


def _parse_pin_attempts(value: object, source: str) -> PinAttemptsQuery | None:
    if value is None:
        return None
    table = _table(value, source, "pin_attempts")
    _reject_unknown(table, _PIN_KEYS, source, "pin_attempts")
    for field in _PIN_KEYS:
        if field not in table:
            raise ProfileError(source, f"pin_attempts.{field}", "required key missing")
    index = table["field_index"]
    if type(index) is not int or index < 0:
        raise ProfileError(source, "pin_attempts.field_index", f"expected an integer >= 0, got {index!r}")
    return PinAttemptsQuery(_expect_str(table["command"], source, "pin_attempts.command"),
                            _expect_str(table["response_prefix"], source, "pin_attempts.response_prefix"),
                            index)


def _table(value: object, source: str, key: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ProfileError(source, key, f"expected a table, got {type(value).__name__} {value!r}")
    return cast(dict[str, object], value)


def _reject_unknown(table: Mapping[str, object], known: frozenset[str], source: str, key: str) -> None:
    for sub_key in table:
        if sub_key not in known:
            raise ProfileError(source, f"{key}.{sub_key}", f"unknown key (known: {', '.join(sorted(known))})")


def _expect_str(value: object, source: str, key: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(source, key, f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _expect_str_list(value: object, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProfileError(source, key, f"expected an array of strings, got {value!r}")
    return tuple(cast(list[str], value))


def _expect_bool(value: object, source: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(source, key, f"expected true or false, got {type(value).__name__} {value!r}")
    return value


def _expect_positive_number(value: object, source: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ProfileError(source, key, f"expected a number of seconds > 0, got {value!r}")
    return float(value)


def _expect_choice(value: object, source: str, key: str, choices: tuple[str, ...]) -> str:
    text = _expect_str(value, source, key)
    if text not in choices:
        raise ProfileError(source, key, f"{text!r} is not one of {list(choices)}")
    return text


_BANK_KEYS = frozenset({"name", "hub_path", "slot"})
_SLOT_KEYS = frozenset({"slot", "hub_port", "usb_path", "label", "profile", "at_interface"})


def load_bank_maps(directory: Path) -> BankLayout:
    """Every `*.toml` of `directory` merged into one layout; a USB path or label used twice is an error."""
    if not directory.is_dir():
        raise ProfileError(str(directory), "<directory>", "bank map directory does not exist")
    slots: dict[str, SlotLabel] = {}
    labels: dict[str, SlotLabel] = {}
    for path in sorted(directory.glob("*.toml")):
        for slot in _read_bank_file(path):
            for index, seen in ((slot.usb_path, slots), (slot.label, labels)):
                if index in seen:
                    first = seen[index]
                    problem = f"{index!r} is taken by bank {first.bank} slot {first.slot} ({first.source})"
                    raise ProfileError(slot.source, "bank.slot", problem)
                seen[index] = slot
    return BankLayout(MappingProxyType(slots))


def check_bank_profiles(layout: BankLayout, profiles: Mapping[str, ModemProfile]) -> None:
    """Every profile a bank slot forces must exist; call once both are loaded."""
    for slot in layout.slots.values():
        if slot.profile is not None and slot.profile not in profiles:
            raise ProfileError(slot.source, f"bank {slot.bank} slot {slot.slot}.profile",
                               f"no profile named {slot.profile!r} (known: {sorted(profiles)})")


def _read_bank_file(path: Path) -> list[SlotLabel]:
    source = str(path)
    document = read_toml(path)
    _reject_unknown(document, frozenset({"bank"}), source, "<top level>")
    banks = document.get("bank", [])
    if not isinstance(banks, list):
        raise ProfileError(source, "bank", "expected an array of tables ([[bank]])")
    slots: list[SlotLabel] = []
    for bank_index, bank_value in enumerate(banks):
        key = f"bank[{bank_index}]"
        bank = _table(bank_value, source, key)
        _reject_unknown(bank, _BANK_KEYS, source, key)
        if "name" not in bank:
            raise ProfileError(source, f"{key}.name", "required key missing")
        name = _expect_str(bank["name"], source, f"{key}.name")
        hub_path = _expect_str(bank["hub_path"], source, f"{key}.hub_path") if "hub_path" in bank else None
        slot_values = bank.get("slot", [])
        if not isinstance(slot_values, list):
            raise ProfileError(source, f"{key}.slot", "expected an array of tables ([[bank.slot]])")
        for slot_index, slot_value in enumerate(slot_values):
            slots.append(_parse_slot(slot_value, source, f"{key}.slot[{slot_index}]", name, hub_path))
    return slots


def _parse_slot(value: object, source: str, key: str, bank: str, hub_path: str | None) -> SlotLabel:
    table = _table(value, source, key)
    _reject_unknown(table, _SLOT_KEYS, source, key)

    def integer(field: str, default: int | None) -> int:
        raw = table.get(field, default)
        if type(raw) is not int or raw < 0:
            raise ProfileError(source, f"{key}.{field}", f"expected an integer >= 0, got {raw!r}")
        return raw

    def optional_text(field: str) -> str | None:
        return _expect_str(table[field], source, f"{key}.{field}") if field in table else None

    number = integer("slot", None)
    usb_path = optional_text("usb_path")
    if usb_path is None:
        if hub_path is None:
            raise ProfileError(source, f"{key}.usb_path", "required unless the bank sets hub_path")
        # udev's path_id names a device behind hub port N as "<hub path>.N" (e.g. usb-0:1.4 → usb-0:1.4.2).
        usb_path = f"{hub_path}.{integer('hub_port', number)}"
    elif "hub_port" in table:
        raise ProfileError(source, f"{key}.hub_port", "set together with usb_path: give one or the other")
    if usb_device_path(usb_path) != usb_path:
        raise ProfileError(source, f"{key}.usb_path", f"{usb_path!r} ends with an interface (:1.N); give the "
                                                      f"USB device path, which all its interfaces share")
    at_interface = normalize_interface(optional_text("at_interface") or "00")
    if not _HEX2.match(at_interface):
        raise ProfileError(source, f"{key}.at_interface", f"not a two-digit hex interface: {at_interface!r}")
    return SlotLabel(bank=bank, slot=number, label=optional_text("label") or f"{bank}{number:02d}",
                     usb_path=usb_path, profile=optional_text("profile"), at_interface=at_interface,
                     source=source)
