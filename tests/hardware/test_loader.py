"""Strict loading of modem profiles and bank maps: shipped files load, every mistake names file and key."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewayd.hardware.loader import (
    ProfileError,
    check_bank_profiles,
    load_bank_maps,
    load_profiles,
    shipped_hardware_directory,
)
from gatewayd.hardware.profile import ModemProfile, usb_device_path

SHIPPED = shipped_hardware_directory()
GENERIC_TEXT = (SHIPPED / "modems" / "generic.toml").read_text()
SHIPPED_NAMES = {
    "generic", "simcom-sim800", "simcom-sim7600", "quectel-ec25", "quectel-eg25", "quectel-ec20",
    "huawei-e3372-stick", "huawei-e3372-hilink", "huawei-me909", "sierra-mc7304", "wavecom-fastrack",
}


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def child(extra: str, *, extends: str = "generic", description: str = "test modem") -> str:
    return f'extends = "{extends}"\ndescription = "{description}"\n{extra}\n'


def load_with(tmp_path: Path, name: str, text: str) -> dict[str, ModemProfile]:
    write(tmp_path / "modems", name, text)
    return dict(load_profiles(SHIPPED / "modems", tmp_path / "modems"))


def test_every_shipped_profile_loads() -> None:
    profiles = load_profiles(SHIPPED / "modems")
    assert set(profiles) == SHIPPED_NAMES
    for name, profile in profiles.items():
        assert profile.name == name and profile.description
        assert profile.source.endswith(f"{name}.toml")
        if profile.has_at_port:
            assert profile.new_message_indication.startswith("AT+CNMI=")
            assert profile.iccid_commands
            assert all(command.startswith("AT") for command in profile.iccid_commands)
        else:
            assert "AT port" in profile.no_at_port_reason


def test_shipped_vendor_quirks_reach_the_typed_profile() -> None:
    profiles = load_profiles(SHIPPED / "modems")
    huawei, quectel = profiles["huawei-e3372-stick"], profiles["quectel-ec25"]
    assert huawei.init_commands == ("AT^CURC=0",)
    assert huawei.is_ignored_urc("^RSSI:17") and not huawei.is_ignored_urc("+CMTI: \"SM\",3")
    assert "COMMAND NOT SUPPORT" in huawei.extra_final_error
    assert quectel.init_commands == ('AT+QURCCFG="urcport","usbat"',)
    assert quectel.storage_command == 'AT+CPMS="ME","ME","ME"'
    assert quectel.pin_attempts_command == 'AT+QPINC="SC"'
    # extends: EG25 inherits the EC25's AT behaviour but not its USB claim or model names.
    eg25 = profiles["quectel-eg25"]
    assert (eg25.init_commands, eg25.pin_attempts, eg25.timeouts) == \
        (quectel.init_commands, quectel.pin_attempts, quectel.timeouts)
    assert eg25.usb == () and eg25.at_models == ("EG25",) and eg25.extends == "quectel-ec25"


def test_extends_overrides_keys_and_merges_timeouts_per_key(tmp_path: Path) -> None:
    profiles = load_with(tmp_path, "acme", child('reset_command = "AT+ACME=RESET"\n[timeouts]\ncmgs_s = 7'))
    acme, generic = profiles["acme"], profiles["generic"]
    assert acme.reset_command == "AT+ACME=RESET"
    assert acme.timeouts.cmgs_s == 7 and acme.timeouts.cops_s == generic.timeouts.cops_s
    assert acme.iccid_commands == generic.iccid_commands


def test_operator_directory_can_extend_a_shipped_vendor_profile_through_a_chain(tmp_path: Path) -> None:
    profiles = load_with(tmp_path, "acme-ec25", child('at_models = ["ACME"]', extends="quectel-eg25"))
    assert profiles["acme-ec25"].pin_attempts_command == 'AT+QPINC="SC"'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (child("colour = 'blue'"), "colour"),
        (child("[timeouts]\ncmgs = 3"), "timeouts.cmgs"),
        (child("[pin_attempts]\ncommand = 'AT'\nresponse_prefix = 'X'\nfield_index = 0\nfield = 1"),
         "pin_attempts.field"),
        (child("[[usb]]\nvendor_id = '1234'\nproduct_id = '5678'\nat_interface = '00'\nspeed = 1"),
         "usb[0].speed"),
    ],
)
def test_unknown_key_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", text)
    assert caught.value.key == key and caught.value.source.endswith("acme.toml")
    assert "acme.toml" in str(caught.value) and key in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (child("has_at_port = 'yes'"), "has_at_port"),
        (child("message_storage = ['SM', 'SM']"), "message_storage"),
        (child("message_storage = ['SM', 'XX', 'SM']"), "message_storage"),
        (child("init_commands = 'AT^CURC=0'"), "init_commands"),
        (child("watchdog_interval_s = 0"), "watchdog_interval_s"),
        (child("[timeouts]\ncmgs_s = 'long'"), "timeouts.cmgs_s"),
        (child("delivery_mode = 'carrier-pigeon'"), "delivery_mode"),
        (child("[[usb]]\nvendor_id = 'xyz1'\nproduct_id = '5678'\nat_interface = '00'"), "usb[0].vendor_id"),
        (child("[[usb]]\nvendor_id = '1234'\nproduct_id = '5678'\nat_interface = '00'\n"
               "[usb.role_by_interface]\n'01' = 'toaster'"), "usb[0].role_by_interface.01"),
        (child("[[usb]]\nvendor_id = '1234'\nproduct_id = '5678'\nat_interface = '00'\n"
               "[usb.role_by_interface]\n'00' = 'diag'"), "usb[0].role_by_interface.00"),
        (child("[[usb]]\nvendor_id = '1234'\nproduct_id = '5678'"), "usb[0].at_interface"),
        (child("[pin_attempts]\ncommand = 'AT'\nresponse_prefix = 'X'\nfield_index = -1"),
         "pin_attempts.field_index"),
        ('extends = "generic"\ndescription = 3\n', "description"),
    ],
)
def test_bad_value_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", text)
    assert (caught.value.key, Path(caught.value.source).name) == (key, "acme.toml")


def test_missing_required_key_in_a_profile_without_extends(tmp_path: Path) -> None:
    text = "\n".join(line for line in GENERIC_TEXT.splitlines() if not line.startswith("reset_command"))
    write(tmp_path, "generic", text)
    with pytest.raises(ProfileError) as caught:
        load_profiles(tmp_path)
    assert caught.value.key == "reset_command" and "required" in caught.value.problem


def test_cnmi_contradicting_delivery_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", child("new_message_indication = 'AT+CNMI=2,2,0,1,0'"))
    assert caught.value.key == "delivery_mode" and "<mt>=2" in caught.value.problem


def test_cnmi_contradicting_status_reports_and_ack_without_direct_routing(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", child("new_message_indication = 'AT+CNMI=2,1,0,2,0'"))
    assert caught.value.key == "status_report_indication"
    direct = ("new_message_indication = 'AT+CNMI=2,1,0,0,0'\nstatus_report_indication = 'none'\n"
              "ack_direct = true")
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", child(direct))
    assert caught.value.key == "ack_direct"


def test_direct_delivery_with_ack_loads(tmp_path: Path) -> None:
    text = child("new_message_indication = 'AT+CNMI=2,2,0,1,0'\ndelivery_mode = 'direct'\nack_direct = true")
    acme = load_with(tmp_path, "acme", text)["acme"]
    assert (acme.delivery_mode, acme.ack_direct) == ("direct", True)


def test_extends_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no profile named 'nokia'"):
        load_with(tmp_path, "acme", child("", extends="nokia"))
    write(tmp_path / "loop", "a", child("", extends="b"))
    write(tmp_path / "loop", "b", child("", extends="a"))
    with pytest.raises(ProfileError, match="cycle"):
        load_profiles(tmp_path / "loop")


def test_usb_id_claimed_twice_names_both_files(tmp_path: Path) -> None:
    claim = "[[usb]]\nvendor_id = '2C7C'\nproduct_id = '0125'\nat_interface = '2'"
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", child(claim))
    assert "2c7c:0125" in caught.value.problem and "quectel-ec25" in caught.value.problem


def test_same_profile_name_in_two_directories_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="already defined"):
        load_with(tmp_path, "quectel-ec25", child(""))


def test_invalid_toml_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", "description = ")
    assert caught.value.key == "<toml>"
    with pytest.raises(ProfileError, match="does not exist"):
        load_profiles(tmp_path / "nowhere")


def test_boot_urc_hidden_by_an_ignored_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", child("boot_urcs = ['^BOOT:']\nignored_urcs = ['^BOOT']"))
    assert caught.value.key == "boot_urcs"


def test_no_at_port_needs_an_explanation(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_with(tmp_path, "acme", child("has_at_port = false"))
    assert caught.value.key == "no_at_port_reason"


def toml_value(value: object) -> str:
    """Enough TOML for the corruption property: JSON strings, numbers, booleans and arrays are valid TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# Control characters and surrogates are kept out only because our tiny TOML writer cannot escape them.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=5)
WRONG_BY_KIND: dict[type, st.SearchStrategy[object]] = {
    str: st.one_of(st.integers(), st.booleans(), st.lists(TEXT, max_size=2)),
    bool: st.one_of(TEXT, st.integers()),
    int: st.one_of(TEXT, st.booleans(), st.integers(max_value=0)),
    list: st.one_of(TEXT, st.integers(), st.lists(st.integers(), min_size=1, max_size=2)),
}
SCALAR_KEYS = sorted(key for key, value in tomllib.loads(GENERIC_TEXT).items() if not isinstance(value, dict))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_any_wrongly_typed_key_is_named(tmp_path: Path, data: st.DataObject) -> None:
    """Property: replacing any one key of generic.toml by a value of the wrong type names that key."""
    key = data.draw(st.sampled_from(SCALAR_KEYS))
    kind = type(tomllib.loads(GENERIC_TEXT)[key])
    wrong = data.draw(WRONG_BY_KIND[int if kind is float else kind])
    lines = [line for line in GENERIC_TEXT.splitlines() if not line.startswith(f"{key} =")]
    write(tmp_path, "generic", f"{key} = {toml_value(wrong)}\n" + "\n".join(lines))
    with pytest.raises(ProfileError) as caught:
        load_profiles(tmp_path)
    assert caught.value.key == key, str(caught.value)


# --- bank maps ---------------------------------------------------------------------------------------


def test_example_bank_map_loads_with_defaults() -> None:
    layout = load_bank_maps(SHIPPED / "banks")
    first = layout.slot_for("pci-0000:00:14.0-usb-0:1.1")
    assert first is not None and (first.bank, first.slot, first.label) == ("A", 1, "A01")
    renumbered = layout.slot_for("pci-0000:00:14.0-usb-0:1.4")
    assert renumbered is not None and renumbered.label == "A03"
    check_bank_profiles(layout, load_profiles(SHIPPED / "modems"))


def test_bank_map_mistakes_name_file_and_key(tmp_path: Path) -> None:
    slot = "[[bank]]\nname = 'A'\n[[bank.slot]]\n"
    cases = {
        "[[bank]]\nname = 'A'\ncolour = 1": "bank[0].colour",
        slot + "slot = 1": "bank[0].slot[0].usb_path",
        slot + "slot = 'one'\nusb_path = 'x-usb-0:1'": "bank[0].slot[0].slot",
        slot + "slot = 1\nusb_path = 'p-usb-0:1.2:1.0'": "bank[0].slot[0].usb_path",
        slot + "slot = 1\nusb_path = 'p-usb-0:1'\nhub_port = 2": "bank[0].slot[0].hub_port",
        "[[bank]]\nslot = []": "bank[0].name",
        "racks = 1": "<top level>.racks",
    }
    for index, (text, key) in enumerate(cases.items()):
        folder = tmp_path / str(index)
        write(folder, "rack", text)
        with pytest.raises(ProfileError) as caught:
            load_bank_maps(folder)
        assert (caught.value.key, Path(caught.value.source).name) == (key, "rack.toml")


def test_usb_path_used_twice_across_files_names_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a", "[[bank]]\nname = 'A'\n[[bank.slot]]\nslot = 1\nusb_path = 'pci-0-usb-0:1'")
    write(tmp_path, "b", "[[bank]]\nname = 'B'\n[[bank.slot]]\nslot = 1\nusb_path = 'pci-0-usb-0:1'")
    with pytest.raises(ProfileError) as caught:
        load_bank_maps(tmp_path)
    assert caught.value.source.endswith("b.toml") and "a.toml" in caught.value.problem


def test_slot_forcing_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    text = "[[bank]]\nname = 'A'\n[[bank.slot]]\nslot = 1\nusb_path = 'p-usb-0:1'\nprofile = 'x'"
    write(tmp_path, "rack", text)
    with pytest.raises(ProfileError, match="no profile named 'x'"):
        check_bank_profiles(load_bank_maps(tmp_path), load_profiles(SHIPPED / "modems"))


@pytest.mark.parametrize(
    ("id_path", "device"),
    [
        ("pci-0000:00:14.0-usb-0:1.4.2:1.3", "pci-0000:00:14.0-usb-0:1.4.2"),
        ("pci-0000:00:14.0-usb-0:1.1", "pci-0000:00:14.0-usb-0:1.1"),
        ("platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3:1.0",
         "platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3"),
        ("pci-0000:00:14.0-usbv2-0:2:1.2", "pci-0000:00:14.0-usbv2-0:2"),
    ],
)
def test_usb_device_path_strips_only_the_interface(id_path: str, device: str) -> None:
    assert usb_device_path(id_path) == device
