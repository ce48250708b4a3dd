"""The hotplug manager over recorded udev events: which ports reach the registry, in which order, and what
is reported for ports it does not drive."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from gatewayd.hardware.loader import load_bank_maps, load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import BankLayout, ModemProfile
from gatewayd.hotplug.manager import HotplugManager
from gatewayd.modem.registry import ModemEntry
from gatewayd.modem.supervisor import ModemStatus
from gatewayd.services.ports import PortReport

DATA = Path(__file__).parent / "data"
PROFILES = load_profiles(shipped_hardware_directory() / "modems")
BANKS = load_bank_maps(DATA / "banks")


def recorded(name: str, **changes: str) -> dict[str, str]:
    lines = (DATA / name).read_text().splitlines()
    return {**dict(line.split("=", 1) for line in lines if line), **changes}


@dataclass
class RecordingRegistry:
    """The registry's surface the manager uses, recording calls in order (no supervisors run)."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    driven: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    status: dict[str, ModemStatus] = field(default_factory=dict)  # replaced on a change, as supervisors do

    def add(self, port: str, profile: ModemProfile, *, usb_path: str | None = None,
            slot: str | None = None) -> None:
        self.calls.append(("add", port))
        self.driven[port] = (profile.name, usb_path, slot)
        self.status[port] = ModemStatus(port=port, state="busy", detail="held by ModemManager")

    async def remove(self, port: str) -> None:
        self.calls.append(("remove", port))
        self.driven.pop(port, None)
        self.status.pop(port, None)

    def statuses(self) -> list[ModemStatus]:
        return [self.status[port] for port in self.driven]

    def entries(self) -> list[ModemEntry]:
        return [ModemEntry(self.status[port], *place) for port, place in self.driven.items()]


@dataclass
class RecordingReports:
    """The port-report store's surface: what each write said; the next `failures` writes fail."""

    written: list[list[PortReport]] = field(default_factory=list)
    failures: int = 0

    async def replace(self, host: str, reports: list[PortReport], sim_slots: object = None) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        self.written.append(list(reports))


def manager_for(registry: RecordingRegistry, banks: BankLayout = BANKS, **kwargs: object) -> HotplugManager:
    return HotplugManager(registry, PROFILES, banks, **kwargs)  # type: ignore[arg-type]


async def test_only_the_at_interface_of_a_composite_modem_is_driven() -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry)
    for interface in ("00", "01", "02", "03"):
        await manager.handle("add", recorded(f"quectel-ec25-if{interface}.udev"))
    await manager.handle("add", recorded("quectel-ec25-if04-wwan0.udev"))
    assert registry.calls == [("add", "/dev/ttyUSB2")]
    assert registry.driven["/dev/ttyUSB2"] == ("quectel-ec25", "pci-0000:00:14.0-usb-0:1.2", "A02")


async def test_hilink_and_unknown_devices_are_reported_not_driven(caplog: pytest.LogCaptureFixture) -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry)
    with caplog.at_level(logging.INFO):
        await manager.handle("add", recorded("huawei-e3372-hilink-eth.udev"))
        await manager.handle("add", recorded("ftdi-ft232r.udev"))
        await manager.handle("add", recorded("platform-ttyS0.udev"))
    assert registry.calls == []
    assert "HiLink" in caplog.text and "no AT port" in caplog.text
    reports = {report.role: report for report in manager.port_reports()}
    assert set(reports) == {"hilink", "unknown"}  # ttyS0 is not news
    assert reports["hilink"].state == "hilink" and "AT port" in reports["hilink"].detail
    assert "matches no modem profile" in reports["unknown"].detail
    assert {sample.role for sample in manager.samples()} == {"hilink", "unknown"}


async def test_busy_state_of_a_driven_port_is_reported_with_its_slot() -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry)
    await manager.handle("add", recorded("quectel-ec25-if02.udev"))
    (report,) = manager.port_reports()
    assert (report.port_key, report.state, report.slot) == (
        "pci-0000:00:14.0-usb-0:1.2:1.2-if02", "busy", "A02")
    assert "ModemManager" in report.detail


async def test_re_enumeration_under_a_new_name_before_the_remove_event() -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry)
    await manager.handle("add", recorded("quectel-ec25-if02.udev"))
    await manager.handle("add", recorded("quectel-ec25-if02.udev", DEVNAME="/dev/ttyUSB7"))
    await manager.handle("remove", {"DEVNAME": "/dev/ttyUSB2", "SUBSYSTEM": "tty"})  # late, already handled
    assert registry.calls == [("add", "/dev/ttyUSB2"), ("remove", "/dev/ttyUSB2"), ("add", "/dev/ttyUSB7")]
    assert list(registry.driven) == ["/dev/ttyUSB7"]


async def test_remove_then_add_and_a_change_that_changes_nothing() -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry)
    event = recorded("simcom-sim7600-if02.udev")
    await manager.handle("add", event)
    await manager.handle("change", event)
    await manager.handle("remove", {"DEVNAME": event["DEVNAME"]})
    await manager.handle("add", event)
    port = event["DEVNAME"]
    assert registry.calls == [("add", port), ("remove", port), ("add", port)]


async def test_static_ports_are_left_to_configuration() -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry, static_ports=["/dev/ttyUSB2"])
    assert await manager.handle("add", recorded("quectel-ec25-if02.udev")) is None
    assert registry.calls == []


async def test_reload_with_a_bank_slot_forcing_a_profile_starts_the_bridge(tmp_path: Path) -> None:
    registry = RecordingRegistry()
    manager = manager_for(registry)
    ftdi = recorded("ftdi-ft232r.udev")
    await manager.handle("add", ftdi)
    await manager.handle("add", recorded("quectel-ec25-if02.udev"))
    assert registry.calls == [("add", "/dev/ttyUSB2")]
    (tmp_path / "rack.toml").write_text(
        '[[bank]]\nname = "C"\n[[bank.slot]]\nslot = 1\nusb_path = "pci-0000:00:14.0-usb-0:5"\n'
        'profile = "simcom-sim800"\n')
    await manager.reload(PROFILES, load_bank_maps(tmp_path))
    # The Quectel lost its slot label (A02 is not in the new map): restarted with the new label; the FTDI
    # bridge now has a slot that says what is behind it, so it is driven.
    assert registry.driven[ftdi["DEVNAME"]] == ("simcom-sim800", "pci-0000:00:14.0-usb-0:5", "C01")
    assert registry.driven["/dev/ttyUSB2"][2] is None


async def test_queued_events_are_applied_in_order_and_join_reports_the_enumeration_done() -> None:
    import asyncio

    registry = RecordingRegistry()
    manager = manager_for(registry)
    manager.submit("add", recorded("quectel-ec25-if02.udev"))
    manager.submit("remove", {"DEVNAME": "/dev/ttyUSB2"})
    manager.submit("add", recorded("huawei-e3372-stick-if00.udev"))
    task = asyncio.create_task(manager.run())
    try:
        async with asyncio.timeout(5):
            await manager.events.join()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [call for call, _ in registry.calls] == ["add", "remove", "add"]
    assert list(registry.driven) == [recorded("huawei-e3372-stick-if00.udev")["DEVNAME"]]


async def test_the_port_list_is_written_on_a_change_only_and_a_failed_write_is_tried_again() -> None:
    registry, reports = RecordingRegistry(), RecordingReports()
    manager = manager_for(registry, reports=reports, host="rack-1")
    await manager.handle("add", recorded("quectel-ec25-if02.udev"))
    assert await manager.report_once() and not await manager.report_once()
    port = "/dev/ttyUSB2"
    registry.status[port] = replace(registry.status[port], signal_percent=80)  # not in the report
    assert not await manager.report_once()
    registry.status[port] = replace(registry.status[port], state="ready", detail="")
    reports.failures = 1
    with pytest.raises(ConnectionError):
        await manager.report_once()
    assert await manager.report_once()  # nothing changed since the failure, yet it is written now
    await manager.handle("add", recorded("ftdi-ft232r.udev"))  # a decision, no supervisor change
    assert await manager.report_once()
    assert [[(r.role, r.state) for r in written] for written in reports.written] == [
        [("at", "busy")], [("at", "ready")], [("at", "ready"), ("unknown", "unknown")]]
