"""Hotplug end to end: the fake bank removes a modem mid-burst and brings it back under a new device name;
the manager is driven with udev events as the monitor would send them. No SMS is lost, the SIM keeps its
hosted SIM, and `simrelay modems` (the real command, reading the store) shows each transition."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gatewayd.clock import SystemClock
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.hardware.loader import load_bank_maps, load_profiles, shipped_hardware_directory
from gatewayd.hotplug.manager import HotplugManager
from gatewayd.modem.registry import ModemRegistry
from gatewayd.modem.supervisor import SupervisorSettings
from gatewayd.services.container import build_services
from gatewayd.services.ports import PortReports
from gatewayd.store.engine import create_engine, read_transaction, session_factory
from gatewayd.store.migrate import upgrade
from gatewayd.store.models import HostedSim, Message

pytestmark = pytest.mark.system

HUB = "pci-0000:00:14.0-usb-0:1"
BANK_MAP = f"""
[[bank]]
name = "R"
hub_path = "{HUB}"

[[bank.slot]]
slot = 1
profile = "simcom-sim800"

[[bank.slot]]
slot = 2
profile = "simcom-sim800"
"""
BURST = 24


def udev_event(slot: int, devname: Path) -> dict[str, str]:
    """What udev reports for the CH340 bridge of a SIM800 board in hub port `slot` (as recorded in
    tests/hotplug/data/ch340-sim800.udev), with the device name the kernel gave it this time."""
    return {
        "DEVNAME": str(devname), "SUBSYSTEM": "tty", "ID_BUS": "usb", "ID_VENDOR_ID": "1a86",
        "ID_MODEL_ID": "7523", "ID_USB_INTERFACE_NUM": "00", "ID_USB_DRIVER": "ch341",
        "ID_PATH": f"{HUB}.{slot}:1.0", "ID_MM_DEVICE_IGNORE": "1", "SIMRELAY_ROLE": "at",
    }


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"{what}: not reached within {timeout_s} s (last {result!r})")
        await asyncio.sleep(0.05)  # polling the store with a deadline


async def simrelay_modems(url: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd", "modems", "--db", url, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)  # type: ignore[no-any-return]


def row_for(listing: dict[str, Any], slot: str) -> dict[str, str]:
    rows = [row for row in listing["rows"] if row["slot"] == slot]
    assert len(rows) == 1, listing["rows"]
    return rows[0]


async def test_replug_under_a_new_name_mid_burst_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rack.db'}"
    await upgrade(url)
    (tmp_path / "banks").mkdir()
    (tmp_path / "banks" / "rack.toml").write_text(BANK_MAP)
    profiles = load_profiles(shipped_hardware_directory() / "modems")
    banks = load_bank_maps(tmp_path / "banks")
    engine = create_engine(url)
    clock = SystemClock()
    sessions = session_factory(engine)
    services = build_services(sessions, clock)
    registry = ModemRegistry(services.gateway, clock, SupervisorSettings(poll_interval_s=0.5,
                                                                         sweep_interval_s=0.5))
    manager = HotplugManager(registry, profiles, banks, reports=PortReports(sessions, clock), host="rack-1")

    async def stored_for(sim_id: int) -> int:
        async with read_transaction(sessions) as session:
            query = select(func.count()).select_from(Message).where(
                Message.hosted_sim_id == sim_id, Message.direction == "inbound")
            return int(await session.scalar(query) or 0)

    async with FakeBank(2, tmp_path / "bank") as bank:
        try:
            for index in (0, 1):
                decision = await manager.handle("add", udev_event(index + 1, bank[index].path))
                assert decision is not None and decision.role == "at"
            async with asyncio.timeout(30):
                await asyncio.gather(*(supervisor.ready.wait() for supervisor in registry.supervisors()))
            sim_id = registry.supervisors()[0].status.hosted_sim_id
            assert sim_id is not None
            await manager.report_once()
            before = row_for(await simrelay_modems(url), "R01")
            assert (before["state"], before["port"]) == ("ready", str(bank[0].path))

            for n in range(BURST // 2):
                bank.inject(0, f"+4915100000{n:03d}", f"burst message #{n}")
            # Unplug mid-burst; udev says "remove", the kernel re-enumerates the modem as a new tty.
            old_path, new_path = bank[0].path, tmp_path / "bank" / "ttyUSB7"
            await manager.handle("remove", {"DEVNAME": str(old_path), "SUBSYSTEM": "tty"})
            await manager.report_once()
            gone = await simrelay_modems(url)
            gone_row = next(row for row in gone["rows"] if row["imei"] == before["imei"])
            assert gone_row["state"] == "absent" and str(old_path) in gone_row["detail"], gone_row
            async with read_transaction(sessions) as session:
                assert (await session.get(HostedSim, sim_id)).status == "offline"  # type: ignore[union-attr]

            bank[0].port.replug(new_path)
            for n in range(BURST // 2, BURST):  # arrives while nobody has the new port open yet
                bank.inject(0, f"+4915100000{n:03d}", f"burst message #{n}")
            await manager.handle("add", udev_event(1, new_path))
            supervisor = next(s for s in registry.supervisors() if s.port == str(new_path))
            async with asyncio.timeout(30):
                await supervisor.ready.wait()

            assert supervisor.status.hosted_sim_id == sim_id  # same SIM, same hosted SIM
            assert await until(lambda: _equals(stored_for(sim_id), BURST), "every SMS stored") is True
            await manager.report_once()
            after = row_for(await simrelay_modems(url), "R01")
            assert (after["state"], after["port"], after["hosted_sim_id"]) == ("ready", str(new_path),
                                                                               str(sim_id))
            assert str(old_path) not in {row["port"] for row in (await simrelay_modems(url))["rows"]}
            async with read_transaction(sessions) as session:
                sim = await session.get(HostedSim, sim_id)
                assert sim is not None and sim.slot == "R01" and sim.status == "active"
        finally:
            await registry.close()
            await engine.dispose()


async def _equals(count: Awaitable[int], expected: int) -> bool:
    return await count == expected
