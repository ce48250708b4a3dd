"""The pyudev side of hotplug: initial enumeration and the netlink monitor watched with `loop.add_reader`
(no thread), each device turned into the property dict discovery.py decides on.

Must not decide anything itself: it reports (action, properties) to a callback and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pyudev  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

# tty: serial ports (AT, modem, diag); net: HiLink sticks show up only as a network interface.
WATCHED_SUBSYSTEMS: tuple[str, ...] = ("tty", "net")
DeviceCallback = Callable[[str, dict[str, str]], None]


def device_properties(device: Any) -> dict[str, str]:
    """The udev properties of a pyudev Device, completed from sysfs when udevd has not run its builtins.

    In a container without udevd (or before 60-serial.rules ran) a tty has only DEVNAME/SUBSYSTEM; the
    USB ids, interface number and path are then read from the sysfs parents as usb_id/path_id would.
    """
    properties = {str(key): str(value) for key, value in device.properties.items()}
    properties.setdefault("SUBSYSTEM", device.subsystem or "")
    if device.device_node and "DEVNAME" not in properties:
        properties["DEVNAME"] = device.device_node
    if "INTERFACE" not in properties and device.subsystem == "net" and device.sys_name:
        properties["INTERFACE"] = device.sys_name
    if not properties.get("ID_VENDOR_ID") or not properties.get("ID_PATH"):
        properties.update({k: v for k, v in _from_sysfs(device).items() if not properties.get(k)})
    return properties


def _from_sysfs(device: Any) -> dict[str, str]:
    interface = device.find_parent("usb", "usb_interface")
    usb_device = device.find_parent("usb", "usb_device")
    if interface is None or usb_device is None:
        return {}
    found = {"ID_BUS": "usb"}
    for key, attribute, node in (("ID_VENDOR_ID", "idVendor", usb_device), ("ID_MODEL_ID", "idProduct",
                                 usb_device), ("ID_USB_INTERFACE_NUM", "bInterfaceNumber", interface)):
        try:
            found[key] = node.attributes.asstring(attribute).strip()
        except (KeyError, UnicodeDecodeError):
            continue
    # path_id names a USB interface "<parent path>-usb-0:<port chain>:<config>.<interface>".
    controller = usb_device.find_parent("pci")
    chain = interface.sys_name.split("-", 1)
    if controller is not None and len(chain) == 2:
        found["ID_PATH"] = f"pci-{controller.sys_name}-usb-0:{chain[1]}"
    return found


class UdevWatcher:
    """Enumerates and watches tty and net devices; `on_event(action, properties)` runs on the loop."""

    def __init__(self, on_event: DeviceCallback, *, context: Any = None,
                 subsystems: Iterable[str] = WATCHED_SUBSYSTEMS) -> None:
        self._on_event = on_event
        self._context = context if context is not None else pyudev.Context()
        self._subsystems = tuple(subsystems)
        self._monitor: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enumerate(self) -> list[dict[str, str]]:
        """Every present device of the watched subsystems, as property dicts (the initial scan)."""
        found = []
        for subsystem in self._subsystems:
            for device in self._context.list_devices(subsystem=subsystem):
                found.append(device_properties(device))
        return found

    def start(self) -> None:
        """Start listening before enumerating, so a device plugged in between is not missed."""
        monitor = pyudev.Monitor.from_netlink(self._context)
        for subsystem in self._subsystems:
            monitor.filter_by(subsystem)
        monitor.start()
        self._monitor = monitor
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(monitor.fileno(), self._on_readable)

    def close(self) -> None:
        if self._monitor is not None and self._loop is not None:
            self._loop.remove_reader(self._monitor.fileno())
        self._monitor = None

    def _on_readable(self) -> None:
        while self._monitor is not None:
            device = self._monitor.poll(timeout=0)
            if device is None:
                return
            try:
                self._on_event(device.action or "change", device_properties(device))
            except Exception:  # task boundary: one odd device must not stop the monitor
                log.exception("hotplug: could not handle udev event for %s", device)
