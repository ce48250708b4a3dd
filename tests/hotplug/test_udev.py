"""The udev adapter: pyudev Devices built from recorded `udevadm info` dumps (no root, no udevd) give back
the property sets discovery decides on; the watcher enumerates and reads the monitor from the loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pyudev

from gatewayd.hardware.loader import load_bank_maps, load_profiles, shipped_hardware_directory
from gatewayd.hotplug.discovery import decide_port
from gatewayd.hotplug.udev import UdevWatcher, device_properties

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
PROFILES = load_profiles(shipped_hardware_directory() / "modems")
BANKS = load_bank_maps(DATA / "banks")
RECORDED = sorted(path.name for path in DATA.glob("*.udev"))


def recorded(name: str) -> dict[str, str]:
    lines = (DATA / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


# Runs in a child process whose whole environment is one udev event: libudev builds the Device from it
# (udev_device_new_from_environment, as a RUN+= program receives it). One process per device, because
# libudev answers only the first such call of a process.
_CHILD = """
import json, pyudev
from gatewayd.hotplug.udev import device_properties
device = pyudev.Devices.from_environment(pyudev.Context())
print(json.dumps({"action": device.action, "properties": device_properties(device)}))
"""


def adapt_in_children(events: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """name → what the adapter made of a real pyudev Device built from that event environment."""
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**properties, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        )
        for name, properties in events.items()
    }
    results = {}
    for name, child in children.items():
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
        results[name] = json.loads(out)
    return results


Adapted = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def adapted() -> Adapted:
    return adapt_in_children(
        {name: {**recorded(name), "ACTION": "add", "SEQNUM": str(number)}
         for number, name in enumerate(RECORDED, start=1)}
    )


@pytest.mark.parametrize("name", RECORDED)
def test_pyudev_device_gives_back_the_recorded_properties(adapted: Adapted, name: str) -> None:
    expected = recorded(name)
    assert adapted[name]["action"] == "add"
    properties = adapted[name]["properties"]
    # libudev keeps DEVLINKS as a set: the order of the links is not part of the data.
    listed = ("DEVLINKS",)
    assert {key: properties.get(key) for key in expected if key not in listed} == {
        key: value for key, value in expected.items() if key not in listed}
    for key in listed:
        assert set(properties.get(key, "").split()) == set(expected.get(key, "").split())
    assert decide_port(properties, PROFILES, BANKS) == decide_port(expected, PROFILES, BANKS)


def test_quectel_interface_2_is_chosen_through_the_adapter(adapted: Adapted) -> None:
    verdicts = {
        number: decide_port(adapted[f"quectel-ec25-if{number}.udev"]["properties"], PROFILES, BANKS).role
        for number in ("00", "01", "02", "03")
    }
    assert verdicts == {"00": "ignore", "01": "ignore", "02": "at", "03": "ignore"}


def test_a_remove_event_keeps_the_devname_the_manager_keys_on() -> None:
    props = {key: value for key, value in recorded("quectel-ec25-if02.udev").items()
             if key in ("DEVPATH", "DEVNAME", "SUBSYSTEM", "MAJOR", "MINOR")}
    result = adapt_in_children({"gone": {**props, "ACTION": "remove", "SEQNUM": "99"}})["gone"]
    assert result["action"] == "remove"
    assert result["properties"]["DEVNAME"] == "/dev/ttyUSB2"


def test_a_device_without_udev_database_is_completed_from_sysfs_parents() -> None:
    """Inside a container without udevd a tty carries only DEVNAME; the USB ids come from sysfs."""
    context = pyudev.Context()
    ttys = [device for device in context.list_devices(subsystem="tty")
            if device.find_parent("usb", "usb_interface") is not None]
    if not ttys:
        pytest.skip("no USB serial device on this host to read sysfs parents from")
    properties = device_properties(ttys[0])
    assert properties["ID_VENDOR_ID"] and properties["ID_PATH"].startswith("pci-")


def test_enumeration_lists_this_hosts_tty_devices_as_property_sets() -> None:
    watcher = UdevWatcher(lambda action, properties: None)
    found = watcher.enumerate()
    names = {properties.get("DEVNAME") for properties in found}
    expected = {f"/dev/{entry.name}" for entry in Path("/sys/class/tty").iterdir()} if Path(
        "/sys/class/tty").is_dir() else set()
    assert expected <= names
    assert all(properties["SUBSYSTEM"] in ("tty", "net") for properties in found)


async def test_monitor_is_watched_on_the_loop_and_closed_cleanly() -> None:
    events: list[tuple[str, dict[str, str]]] = []
    watcher = UdevWatcher(lambda action, properties: events.append((action, properties)))
    try:
        watcher.start()
    except OSError as exc:  # a sandbox without netlink sockets
        pytest.skip(f"no netlink socket here: {exc}")
    loop = asyncio.get_running_loop()
    fd = watcher._monitor.fileno()
    # add_reader registered the netlink fd: removing it succeeds exactly once (after close it is gone).
    watcher.close()
    assert loop.remove_reader(fd) is False
    assert events == []
