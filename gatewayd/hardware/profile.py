"""Typed, immutable vendor knowledge: one ModemProfile per modem model, and the bank map of USB slots.

Pure data (stdlib only). Code reads these fields and never branches on a vendor name; loader.py builds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

# What an USB interface of a modem carries. Only "at" is opened by the gateway; the others are named so that
# a decision can say *why* a port is left alone (e.g. the DIAG port of a Qualcomm-based modem).
InterfaceRole = Literal["at", "modem", "diag", "nmea", "net", "audio", "storage", "ignore"]
INTERFACE_ROLES: tuple[InterfaceRole, ...] = (
    "at", "modem", "diag", "nmea", "net", "audio", "storage", "ignore",
)

# 3GPP TS 27.005 §3.4.1: <mt>=1 stores the SMS and indicates +CMTI ("stored"); <mt>=2 routes it to the TE as
# +CMT ("direct"), which must be acknowledged with +CNMA when AT+CSMS=1.
DeliveryMode = Literal["stored", "direct"]
DELIVERY_MODES: tuple[DeliveryMode, ...] = ("stored", "direct")

# 3GPP TS 27.005 §3.4.1 <ds>: 0 no status reports, 1 routed as +CDS ("direct"), 2 stored and indicated as
# +CDSI ("stored").
StatusReportIndication = Literal["none", "direct", "stored"]
STATUS_REPORT_INDICATIONS: tuple[StatusReportIndication, ...] = ("none", "direct", "stored")

_FIELD_SEPARATOR = re.compile(r"\s*,\s*")


def normalize_usb_id(value: str) -> str:
    """A USB vendor or product id as udev spells ID_VENDOR_ID: four lower-case hex digits ("2C7C"→"2c7c")."""
    return value.strip().lower().removeprefix("0x").rjust(4, "0")


# udev path_id: a USB device is "...-usb-0:<port chain>" ("usb-0:1.4.2"); one of its interfaces appends
# ":<configuration>.<interface>" ("usb-0:1.4.2:1.3"). Only the second colon marks an interface.
_INTERFACE_SUFFIX = re.compile(r"(-usb(?:v\d)?-\d+:[0-9.]+):\d+\.\d+$")


def usb_device_path(id_path: str) -> str:
    """The USB device part of a udev ID_PATH: "pci-…-usb-0:1.4:1.2" (interface 2) → "pci-…-usb-0:1.4"."""
    return _INTERFACE_SUFFIX.sub(r"\1", id_path)


def normalize_interface(value: str) -> str:
    """A USB interface number as udev spells ID_USB_INTERFACE_NUM: two hex digits ("2" → "02")."""
    return value.strip().lower().removeprefix("0x").rjust(2, "0")


@dataclass(frozen=True, slots=True)
class UsbMatch:
    """One USB identity (vendor:product) of a modem model and what each of its interfaces is.

    `at_interface` is None only for devices without an AT port (HiLink). `role_by_interface` always contains
    the AT interface mapped to "at"; interfaces absent from it are left alone as unknown.
    """

    vendor_id: str
    product_id: str
    at_interface: str | None
    role_by_interface: Mapping[str, InterfaceRole] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""

    def role_of(self, interface: str) -> InterfaceRole | None:
        """The declared role of `interface` ("2" or "02"), None when the profile says nothing about it."""
        return self.role_by_interface.get(normalize_interface(interface))

    def matches(self, vendor_id: str, product_id: str) -> bool:
        wanted = (normalize_usb_id(vendor_id), normalize_usb_id(product_id))
        return wanted == (self.vendor_id, self.product_id)


@dataclass(frozen=True, slots=True)
class CommandTimeouts:
    """Seconds to wait for a final result; the long ones follow each AT manual's maximum response time."""

    default_s: float
    cmgs_s: float
    cmgl_s: float
    cops_s: float
    init_s: float

    def for_command(self, command: str) -> float:
        """The timeout for one command line ("AT+CMGS=23" → cmgs_s); `init_s` is chosen by the caller."""
        upper = command.strip().upper()
        if upper.startswith("AT+CMGS"):
            return self.cmgs_s
        if upper.startswith("AT+CMGL"):
            return self.cmgl_s
        if upper.startswith("AT+COPS"):
            return self.cops_s
        return self.default_s


@dataclass(frozen=True, slots=True)
class PinAttemptsQuery:
    """How to ask for the PIN1 attempts left (field lesson 12: never retry below 2) and read the reply.

    The reply line starts with `response_prefix`; its comma-separated fields are counted from 0 after the
    prefix, and `field_index` is the PIN1 counter (e.g. Quectel `+QPINC: "SC",3,10` → index 1).
    """

    command: str
    response_prefix: str
    field_index: int

    def read(self, line: str) -> int | None:
        """Attempts left, read from a response line; None if it is not this reply or the field is empty."""
        stripped = line.strip()
        if not stripped.startswith(self.response_prefix):
            return None
        fields = _FIELD_SEPARATOR.split(stripped[len(self.response_prefix):].strip())
        if self.field_index >= len(fields):
            return None
        value = fields[self.field_index].strip().strip('"')
        return int(value) if value.isdigit() else None


@dataclass(frozen=True, slots=True)
class ModemProfile:
    """Everything the modem driver needs to know about one model; see hardware/README.md for each key."""

    name: str
    description: str
    source: str
    usb: tuple[UsbMatch, ...]
    at_models: tuple[str, ...]
    has_at_port: bool
    no_at_port_reason: str
    init_commands: tuple[str, ...]
    iccid_commands: tuple[str, ...]
    message_storage: tuple[str, str, str]
    new_message_indication: str
    delivery_mode: DeliveryMode
    ack_direct: bool
    status_report_indication: StatusReportIndication
    ignored_urcs: tuple[str, ...]
    extra_urcs: tuple[str, ...]
    extra_final_ok: tuple[str, ...]
    extra_final_error: tuple[str, ...]
    timeouts: CommandTimeouts
    pin_attempts: PinAttemptsQuery | None
    reset_command: str
    boot_urcs: tuple[str, ...]
    watchdog_interval_s: float
    poll_interval_s: float
    sweep_interval_s: float
    extends: str | None = None

    @property
    def storage_command(self) -> str:
        """The AT+CPMS command selecting all three memories (field lesson 4: set all three)."""
        return "AT+CPMS=" + ",".join(f'"{memory}"' for memory in self.message_storage)

    @property
    def pin_attempts_command(self) -> str | None:
        return None if self.pin_attempts is None else self.pin_attempts.command

    def is_ignored_urc(self, line: str) -> bool:
        """True when `line` is a vendor URC this profile drops (prefix match, e.g. "^RSSI:" for "^RSSI")."""
        return any(line.startswith(prefix) for prefix in self.ignored_urcs)

    def usb_match_for(self, vendor_id: str, product_id: str) -> UsbMatch | None:
        return next((match for match in self.usb if match.matches(vendor_id, product_id)), None)


@dataclass(frozen=True, slots=True)
class SlotLabel:
    """Where a modem sits: bank name, slot number printed on the bank, and the label shown to people.

    `profile` forces a profile for this slot (a USB-serial bridge such as a CH340 says nothing about the modem
    behind it); `at_interface` says which interface of that bridge is the AT port.
    """

    bank: str
    slot: int
    label: str
    usb_path: str
    profile: str | None = None
    at_interface: str = "00"
    source: str = ""


@dataclass(frozen=True, slots=True)
class BankLayout:
    """The bank maps of this host: USB device path (udev ID_PATH without the interface) → slot."""

    slots: Mapping[str, SlotLabel] = field(default_factory=lambda: MappingProxyType({}))

    def slot_for(self, usb_path: str) -> SlotLabel | None:
        return self.slots.get(usb_path)
