"""Pure port discovery: the udev properties of one device + profiles + bank map → what to do with that port.

No I/O and no asyncio: hotplug/udev.py feeds it the property dict of each udev event. Ports are keyed by USB
path + interface (field lesson 5: ttyUSB numbers move), never by /dev name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gatewayd.hardware.matching import identify_usb
from gatewayd.hardware.profile import (
    BankLayout,
    InterfaceRole,
    ModemProfile,
    SlotLabel,
    normalize_interface,
    normalize_usb_id,
    usb_device_path,
)

PortRole = Literal["at", "ignore", "hilink", "unknown"]
STABLE_PATH_PREFIX = "/dev/simrelay/by-path/"


@dataclass(frozen=True, slots=True)
class PortDecision:
    """One port's verdict with its evidence. `port_key` is "<ID_PATH>-if<NN>", as udev/99-simrelay.rules names
    the symlink /dev/simrelay/by-path/<port_key>; `usb_path` (ID_PATH without the interface) is the modem."""

    devname: str
    role: PortRole
    profile_name: str | None
    port_key: str | None
    slot: SlotLabel | None
    reason: str
    usb_path: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def stable_path(self) -> str | None:
        return None if self.port_key is None else STABLE_PATH_PREFIX + self.port_key


@dataclass(frozen=True, slots=True)
class _Device:
    """The udev properties discovery reads, normalized."""

    devname: str
    subsystem: str
    vendor_id: str
    product_id: str
    interface: str
    id_path: str
    description: str

    @property
    def usb_id(self) -> str:
        return f"{self.vendor_id}:{self.product_id}"


def decide_port(properties: Mapping[str, str], profiles: Mapping[str, ModemProfile],
                banks: BankLayout) -> PortDecision:
    """Decide one udev device: open it as AT port, ignore it, explain a HiLink stick, or report it unknown."""
    device = _read_device(properties)
    if device is None:
        devname = properties.get("DEVNAME") or properties.get("INTERFACE") or "?"
        return PortDecision(devname, "ignore", None, None, None,
                            "not a USB device udev could place (no ID_VENDOR_ID, ID_MODEL_ID or ID_PATH)")
    usb_path = usb_device_path(device.id_path)
    slot = banks.slot_for(usb_path)
    decision = _decide_known(device, profiles, slot)
    return PortDecision(
        devname=device.devname, role=decision[0], profile_name=decision[1],
        port_key=f"{device.id_path}-if{device.interface}", slot=slot, reason=decision[2], usb_path=usb_path,
        warnings=_warnings(properties, decision[0]),
    )


def _read_device(properties: Mapping[str, str]) -> _Device | None:
    vendor_id = properties.get("ID_VENDOR_ID", "")
    product_id = properties.get("ID_MODEL_ID", "")
    id_path = properties.get("ID_PATH", "")
    if not (vendor_id and product_id and id_path) or properties.get("ID_BUS", "usb") != "usb":
        return None
    interface = properties.get("ID_USB_INTERFACE_NUM", "")
    shown = ("ID_VENDOR", "ID_MODEL", "ID_USB_DRIVER")
    described = " ".join(f"{key}={properties[key]}" for key in shown if properties.get(key))
    return _Device(
        devname=properties.get("DEVNAME") or properties.get("INTERFACE") or "?",
        subsystem=properties.get("SUBSYSTEM", ""),
        vendor_id=normalize_usb_id(vendor_id), product_id=normalize_usb_id(product_id),
        interface=normalize_interface(interface) if interface else "??",
        id_path=id_path, description=described,
    )


_Verdict = tuple[PortRole, str | None, str]


def _decide_known(device: _Device, profiles: Mapping[str, ModemProfile], slot: SlotLabel | None) -> _Verdict:
    if slot is not None and slot.profile is not None:
        forced = profiles.get(slot.profile)
        if forced is None:
            return "unknown", None, (f"bank map {slot.source} gives slot {slot.label} the profile "
                                     f"{slot.profile!r}, which is not loaded (known: {sorted(profiles)})")
        usb = forced.usb_match_for(device.vendor_id, device.product_id)
        # A USB-serial bridge (CH340, FTDI) forced onto a slot: the slot names its AT interface.
        role = usb.role_of(device.interface) if usb is not None else (
            "at" if device.interface == slot.at_interface else None)
        origin = f"bank map slot {slot.label} forces profile {forced.name}"
        return _verdict_for_interface(device, forced, role, origin)
    identity = identify_usb(profiles, device.vendor_id, device.product_id)
    if identity is None:
        return "unknown", None, (f"USB {device.usb_id} ({device.description or 'no description'}) matches "
                                 f"no modem profile; to use it, add a profile with this usb id to "
                                 f"hardware/modems or give its USB path a slot with `profile = ...` in a "
                                 f"bank map")
    origin = f"USB {device.usb_id} is claimed by profile {identity.profile.name}"
    return _verdict_for_interface(device, identity.profile, identity.role_of(device.interface), origin)


def _verdict_for_interface(device: _Device, profile: ModemProfile, role: InterfaceRole | None,
                           origin: str) -> _Verdict:
    name = profile.name
    if not profile.has_at_port:
        return "hilink", name, f"{origin}, which has no AT port: {profile.no_at_port_reason}"
    if device.subsystem != "tty":
        return "ignore", name, f"{origin}; {device.devname} is a {device.subsystem or 'non-tty'} device, " \
                               f"not a serial port"
    what = f"interface {device.interface}"
    if role == "at":
        return "at", name, f"{origin}; {what} is its AT port"
    if role is None:
        return "ignore", name, f"{origin}; {what} is not described by the profile, so it is left alone"
    return "ignore", name, f"{origin}; {what} is its {role} port, not the AT port"


def _warnings(properties: Mapping[str, str], role: PortRole) -> tuple[str, ...]:
    """Drift between the installed udev rules and the loaded profiles, and ModemManager's reach (lesson 6)."""
    found: list[str] = []
    if role == "at" and properties.get("ID_MM_DEVICE_IGNORE") != "1":
        found.append("ID_MM_DEVICE_IGNORE is not set, so ModemManager may open this port too; install "
                     "udev/99-simrelay.rules (see udev/README.md)")
    tagged = properties.get("SIMRELAY_ROLE")
    if tagged is not None and tagged != role:
        found.append(f"udev rules tagged this port SIMRELAY_ROLE={tagged} but the loaded profiles say "
                     f"{role}; the installed rules and hardware/modems disagree")
    if role == "at" and tagged is None:
        found.append("udev rules did not tag this AT port (no SIMRELAY_ROLE): its /dev/simrelay/by-path link "
                     "is missing and its group/mode may not allow the simrelay user")
    return tuple(found)
