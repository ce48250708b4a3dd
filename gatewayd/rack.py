"""Rack operations for the runtime: hotplug (udev → registry), metrics, the port list in the store, the
systemd watchdog fed only while the database answers, and SIGHUP reloads of profiles and bank maps.

Owns its tasks and the udev watcher and stops them on exit; builds nothing at import and never talks to a
modem (supervisors do). The runtime creates it, then the registry with `metrics.observer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.config import Settings
from gatewayd.errors import ConfigError
from gatewayd.hardware.loader import ProfileError, check_bank_profiles, load_bank_maps
from gatewayd.hardware.matching import generic_profile
from gatewayd.hardware.profile import BankLayout, ModemProfile
from gatewayd.hotplug.manager import HotplugManager
from gatewayd.metrics import GatewayMetrics, PortSample
from gatewayd.modem.registry import ModemEntry, ModemRegistry
from gatewayd.services.health import HealthService
from gatewayd.services.outbound_queue import OutboundQueueStats
from gatewayd.services.ports import PortReports
from gatewayd.systemd import SystemdNotifier

if TYPE_CHECKING:
    from gatewayd.hotplug.udev import UdevWatcher

log = logging.getLogger(__name__)

DEFAULT_BANKS_DIRECTORY = Path("/etc/simrelay/banks")
HEALTH_PROBE_TIMEOUT_S = 5.0
DEFAULT_HEALTH_INTERVAL_S = 10.0


def load_banks(settings: Settings, profiles: Mapping[str, ModemProfile]) -> BankLayout:
    """`gateway.banks_dir`, else /etc/simrelay/banks when present, else no bank map (no slot labels)."""
    directory = Path(settings.gateway.banks_dir) if settings.gateway.banks_dir else DEFAULT_BANKS_DIRECTORY
    if not settings.gateway.banks_dir and not directory.is_dir():
        return BankLayout()
    try:
        layout = load_bank_maps(directory)
        check_bank_profiles(layout, profiles)
    except ProfileError as exc:
        raise ConfigError(exc.source, exc.key, exc.problem) from exc
    return layout


class RackOperations:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        notifier: SystemdNotifier | None = None,
        udev_context: object | None = None,
    ) -> None:
        self._settings = settings
        self._registry: ModemRegistry | None = None
        self.manager: HotplugManager | None = None
        self.notifier = notifier if notifier is not None else SystemdNotifier.from_environment()
        self.metrics = GatewayMetrics(self._entries, ports=self._samples,
                                      queue=OutboundQueueStats(sessions, clock).depths)
        self._health = HealthService(sessions)
        self._reports = PortReports(sessions, clock)
        self._udev_context = udev_context
        self._database_ok = True
        self._tasks: set[asyncio.Task[None]] = set()

    def _entries(self) -> list[ModemEntry]:
        return self._registry.entries() if self._registry is not None else []

    def _samples(self) -> list[PortSample]:
        return self.manager.samples() if self.manager is not None else []

    def healthy(self) -> bool:
        """What the watchdog vouches for: the loop runs (we are called from it) and the store answers."""
        return self._database_ok

    @contextlib.asynccontextmanager
    async def running(
        self, registry: ModemRegistry, profiles: Mapping[str, ModemProfile], static_ports: Sequence[str]
    ) -> AsyncIterator[HotplugManager]:
        """Drive static ports, enumerate and watch udev, report ports, feed the watchdog; stop all on exit.

        Returns once the initial enumeration has been applied, so READY means "modems enumerated".
        """
        self._registry = registry
        manager = HotplugManager(registry, profiles, load_banks(self._settings, profiles),
                                 static_ports=static_ports, reports=self._reports,
                                 host=self._settings.gateway.host_name or socket.gethostname())
        self.manager = manager
        generic = generic_profile(profiles)
        for port in static_ports:
            manager.add_static(port, generic)
        watcher = self._start_udev(manager) if self._settings.gateway.discover else None
        self._spawn(manager.run(), "hotplug")
        self._spawn(manager.report_forever(), "port reports")
        interval = self.notifier.watchdog_interval_s or DEFAULT_HEALTH_INTERVAL_S
        self._spawn(self._probe_health(interval), "health probe")
        self._spawn(self.notifier.feed_watchdog(self.healthy), "watchdog")
        try:
            await manager.events.join()
            yield manager
        finally:
            if watcher is not None:
                watcher.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            self.manager = None

    async def reload(self, load_profiles: Callable[[], Mapping[str, ModemProfile]]) -> bool:
        """SIGHUP: re-read profiles and bank maps; on any error keep the running ones and say why."""
        if self.manager is None:
            return False
        try:
            profiles = load_profiles()
            banks = load_banks(self._settings, profiles)
        except ConfigError as exc:
            log.error("reload refused, keeping the current profiles and bank maps: %s", exc)
            return False
        await self.manager.reload(profiles, banks)
        log.info("reloaded %d profiles and %d bank slots", len(profiles), len(banks.slots))
        return True

    def _start_udev(self, manager: HotplugManager) -> UdevWatcher | None:
        from gatewayd.hotplug.udev import UdevWatcher  # pyudev loads libudev: only when discovery is on

        watcher = UdevWatcher(manager.submit, context=self._udev_context)
        try:
            watcher.start()  # listen first, then enumerate: nothing plugged in between is missed
        except OSError as exc:
            log.warning("hotplug: cannot watch udev (%s); only configured ports are driven", exc)
            return None
        for properties in watcher.enumerate():
            manager.submit("add", properties)
        return watcher

    async def _probe_health(self, interval_s: float) -> None:
        while True:
            try:
                async with asyncio.timeout(HEALTH_PROBE_TIMEOUT_S):
                    await self._health.ping_database()
                ok = True
            except Exception as exc:  # task boundary: any failure means "not healthy"
                log.warning("health: database did not answer: %s", exc)
                ok = False
            self._database_ok = ok
            await asyncio.sleep(interval_s)  # the probe cadence, not waiting for something

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
