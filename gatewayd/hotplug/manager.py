"""Turns udev events into registry changes: an AT port of a known modem is driven, its removal stops the
supervisor, a HiLink stick or an unknown serial device is reported (log, metrics, `simrelay modems`).

Events are applied one at a time, in order, from one task (`run`), so a remove and the re-add under a new
ttyUSB number never race. Identity is the USB path + interface (`port_key`), never the /dev name.
Must not talk to a modem: supervisors do that; it only decides which ports they get.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gatewayd.hardware.profile import BankLayout, ModemProfile
from gatewayd.hotplug.discovery import PortDecision, decide_port
from gatewayd.metrics import PortSample
from gatewayd.modem.registry import ModemRegistry
from gatewayd.modem.supervisor import ModemStatus
from gatewayd.services.ports import PortReport, PortReports

log = logging.getLogger(__name__)

PortEvent = tuple[str, Mapping[str, str]]  # (udev action, properties)
REPORT_INTERVAL_S = 1.0  # how often supervisor states are compared with what the store last got
REPORTED_ROLES = ("at", "hilink", "unknown")  # "ignore" (diag/nmea ports, ttyS0, lo) is not news


@dataclass(frozen=True)
class _Seen:
    properties: Mapping[str, str]
    decision: PortDecision


class HotplugManager:
    def __init__(
        self,
        registry: ModemRegistry,
        profiles: Mapping[str, ModemProfile],
        banks: BankLayout,
        *,
        static_ports: Sequence[str] = (),
        reports: PortReports | None = None,
        host: str = "",
    ) -> None:
        self._registry = registry
        self._profiles = profiles
        self._banks = banks
        self._static = set(static_ports)
        self._reports = reports
        self._host = host
        self._seen: dict[str, _Seen] = {}  # devname → last decision
        self._driven: dict[str, str] = {}  # port_key → devname being driven
        self._static_profiles: dict[str, str] = {}
        self.events: asyncio.Queue[PortEvent] = asyncio.Queue()
        self._last_reported: list[PortReport] | None = None
        self._decided = 0  # bumped whenever `_seen` changes
        # What the last comparison was built from: `_decided` and the supervisors' status objects (a
        # supervisor replaces its status on every change, so the same objects mean the same reports).
        self._compared: tuple[int, list[ModemStatus]] | None = None

    # -- inputs -------------------------------------------------------------------------------------
    def submit(self, action: str, properties: Mapping[str, str]) -> None:
        """The udev watcher's callback: queue the event for `run` (never blocks the loop)."""
        self.events.put_nowait((action, dict(properties)))

    def add_static(self, port: str, profile: ModemProfile) -> None:
        """A port from configuration (or the simulator): always driven, whatever udev says about it."""
        self._static.add(port)
        self._static_profiles[port] = profile.name
        self._registry.add(port, profile)

    async def run(self) -> None:
        """Apply queued events forever, in order; owned by the runtime's task set."""
        while True:
            action, properties = await self.events.get()
            try:
                await self.handle(action, properties)
            except Exception:  # task boundary: one bad event must not end hotplug
                log.exception("hotplug: %s of %s failed", action, properties.get("DEVNAME"))
            finally:
                self.events.task_done()  # `events.join()` tells the runtime the enumeration is applied

    async def handle(self, action: str, properties: Mapping[str, str]) -> PortDecision | None:
        devname = properties.get("DEVNAME") or properties.get("INTERFACE") or ""
        if not devname or devname in self._static:
            return None
        if action == "remove":
            await self._forget(devname)
            return None
        decision = decide_port(properties, self._profiles, self._banks)
        previous = self._seen.get(devname)
        self._seen[devname] = _Seen(dict(properties), decision)
        self._decided += 1
        if previous is not None and previous.decision == decision:
            return decision  # a "change" that changes nothing we act on
        if previous is not None and previous.decision.role == "at":
            await self._stop_driving(previous.decision)
        await self._apply(decision)
        return decision

    async def reload(self, profiles: Mapping[str, ModemProfile], banks: BankLayout) -> None:
        """SIGHUP: new profiles and bank maps; every known device is decided again. A port whose verdict
        is unchanged keeps its supervisor (no needless reopen); others are stopped or started."""
        self._profiles, self._banks = profiles, banks
        for devname, seen in list(self._seen.items()):
            await self.handle("change", seen.properties)
            log.debug("hotplug: re-decided %s", devname)

    # -- decisions → registry -------------------------------------------------------------------------
    async def _apply(self, decision: PortDecision) -> None:
        for warning in decision.warnings:
            log.warning("hotplug: %s: %s", decision.devname, warning)
        if decision.role == "hilink":
            log.warning("hotplug: %s is a HiLink device with no AT port, so it cannot be driven: %s",
                        decision.devname, decision.reason)
            return
        if decision.role == "unknown":
            log.info("hotplug: %s ignored: %s (or list it under [gateway] modems)", decision.devname,
                     decision.reason)
            return
        if decision.role != "at" or decision.profile_name is None or decision.port_key is None:
            log.debug("hotplug: %s left alone: %s", decision.devname, decision.reason)
            return
        stale = self._driven.get(decision.port_key)
        if stale is not None and stale != decision.devname:
            # The same USB port under a new name before udev told us the old one went (re-enumeration).
            log.info("hotplug: %s re-enumerated as %s", stale, decision.devname)
            await self._forget(stale)
        slot = decision.slot.label if decision.slot else None
        log.info("hotplug: driving %s%s: %s", decision.devname, f" (slot {slot})" if slot else "",
                 decision.reason)
        self._driven[decision.port_key] = decision.devname
        self._registry.add(decision.devname, self._profiles[decision.profile_name],
                           usb_path=decision.usb_path, slot=slot)

    async def _forget(self, devname: str) -> None:
        seen = self._seen.pop(devname, None)
        self._decided += 1
        if seen is not None and seen.decision.role == "at":
            log.info("hotplug: %s removed", devname)
            await self._stop_driving(seen.decision)

    async def _stop_driving(self, decision: PortDecision) -> None:
        if decision.port_key is not None and self._driven.get(decision.port_key) == decision.devname:
            del self._driven[decision.port_key]
        await self._registry.remove(decision.devname)

    # -- outputs: metrics and `simrelay modems` ----------------------------------------------------------
    def samples(self) -> list[PortSample]:
        samples = []
        for devname, seen in self._seen.items():
            decision = seen.decision
            if decision.role in REPORTED_ROLES:
                samples.append(PortSample(decision.port_key or devname, devname, decision.role,
                                          decision.slot.label if decision.slot else "",
                                          decision.profile_name or "", decision.reason))
        return samples

    def port_reports(self) -> list[PortReport]:
        """Driven ports with their supervisor's state, then HiLink and unknown ports with the reason."""
        decisions = {seen.decision.devname: seen.decision for seen in self._seen.values()}
        reports = []
        for entry in self._registry.entries():
            status = entry.status
            decision = decisions.get(status.port)
            key = decision.port_key if decision and decision.port_key else status.port
            reports.append(PortReport(key, status.port, "at", status.state, status.detail, entry.profile,
                                      entry.usb_path, entry.slot, status.imei))
        for decision in decisions.values():
            if decision.role in ("hilink", "unknown"):
                reports.append(PortReport(
                    decision.port_key or decision.devname, decision.devname, decision.role, decision.role,
                    decision.reason, decision.profile_name, decision.usb_path,
                    decision.slot.label if decision.slot else None))
        return reports

    async def report_once(self) -> bool:
        """Write the port list to the store if it changed since the last write; True when written.

        Runs every second: when no decision and no supervisor status changed since the last comparison,
        it stops there instead of building every port's report (most of an idle bank's reporting CPU)."""
        if self._reports is None:
            return False
        basis = (self._decided, self._registry.statuses())
        if self._compared is not None and _same_basis(basis, self._compared):
            return False
        current = self.port_reports()
        written = current != self._last_reported
        if written:
            sim_slots = {entry.status.hosted_sim_id: entry.slot for entry in self._registry.entries()
                         if entry.status.hosted_sim_id is not None}
            await self._reports.replace(self._host, current, sim_slots)
            self._last_reported = current
        self._compared = basis  # only once written or equal: a failed write is tried again next time
        return written

    async def report_forever(self, interval_s: float = REPORT_INTERVAL_S) -> None:
        while True:
            try:
                await self.report_once()
            except Exception:  # task boundary: a store hiccup must not end reporting
                log.exception("hotplug: could not record the port list")
            await asyncio.sleep(interval_s)  # the reporting cadence, not waiting for something


def _same_basis(a: tuple[int, list[ModemStatus]], b: tuple[int, list[ModemStatus]]) -> bool:
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(x is y for x, y in zip(a[1], b[1], strict=True))
