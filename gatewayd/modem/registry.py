"""The set of modems this gateway drives: one supervisor task per port, owned and awaited here.

Ports come from configuration, the simulator, or hotplug; removing a port stops its supervisor. Nothing
here talks to a modem: it starts, stops and lists supervisors, and wakes their outboxes (OutboxWakeRoutes):
`queued` events through one bus subscription, and the periodic safety net through one read for all SIMs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from gatewayd.clock import Clock
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.observer import ModemObserver
from gatewayd.modem.outbox import OutboxWakeRoutes
from gatewayd.modem.supervisor import ModemStatus, ModemSupervisor, SupervisorSettings
from gatewayd.services.gateway import GatewayRecorder

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0  # how long a supervisor may take to finish its command in flight at shutdown


@dataclass(frozen=True)
class ModemEntry:
    """A driven port as metrics and `simrelay modems` show it: the supervisor's status plus where it sits."""

    status: ModemStatus
    profile: str
    usb_path: str | None
    slot: str | None


class ModemRegistry:
    def __init__(
        self,
        recorder: GatewayRecorder,
        clock: Clock,
        settings: SupervisorSettings,
        *,
        observer: ModemObserver | None = None,
    ) -> None:
        self._recorder = recorder
        self._clock = clock
        self._settings = settings
        self._observer = observer
        self._supervisors: dict[str, ModemSupervisor] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._places: dict[str, tuple[str, str | None, str | None]] = {}  # port → profile, usb path, slot
        self._accepting = True
        self._wake_routes = OutboxWakeRoutes()
        self._waker: asyncio.Task[None] | None = None  # started with the first supervisor

    def add(
        self, port: str, profile: ModemProfile, *, usb_path: str | None = None, slot: str | None = None
    ) -> ModemSupervisor:
        """Drive `port` (idempotent). `usb_path` is the stable identity of the USB port, `slot` its label."""
        if not self._accepting:
            raise RuntimeError(f"registry is closing; refusing to start a supervisor for {port}")
        if port in self._supervisors:
            return self._supervisors[port]
        supervisor = ModemSupervisor(
            port, profile, self._recorder, self._clock, self._settings, usb_path=usb_path,
            observer=self._observer, slot=slot, wake_routes=self._wake_routes,
        )
        self._start_waker()
        self._supervisors[port] = supervisor
        self._places[port] = (profile.name, usb_path, slot)
        task = asyncio.create_task(self._guard(supervisor), name=f"modem {port}")
        self._tasks[port] = task
        return supervisor

    def _start_waker(self) -> None:
        """One subscription and one periodic read for all supervisors: one subscription each woke 256
        tasks per event at 256 modems, one read each was most of an idle bank's database work."""
        if self._waker is None:
            routes = self._wake_routes.run(
                self._recorder.outbound, self._settings.outbox_check_s, self._recorder.bus
            )
            self._waker = asyncio.create_task(routes, name="outbox waker")

    async def remove(self, port: str) -> None:
        supervisor = self._supervisors.pop(port, None)
        task = self._tasks.pop(port, None)
        self._places.pop(port, None)
        if supervisor is None or task is None:
            return
        await self._stop(supervisor, task)

    def statuses(self) -> list[ModemStatus]:
        return [supervisor.status for supervisor in self._supervisors.values()]

    def supervisors(self) -> list[ModemSupervisor]:
        return list(self._supervisors.values())

    def ports(self) -> list[str]:
        return list(self._supervisors)

    def entries(self) -> list[ModemEntry]:
        return [
            ModemEntry(supervisor.status, *self._places.get(port, ("?", supervisor.usb_path, None)))
            for port, supervisor in self._supervisors.items()
        ]

    async def close(self) -> None:
        """Stop taking ports, then stop every supervisor; each finishes its command in flight first."""
        self._accepting = False
        supervisors, tasks = self._supervisors, self._tasks
        self._supervisors, self._tasks, self._places = {}, {}, {}
        await asyncio.gather(*(self._stop(supervisors[port], tasks[port]) for port in tasks))
        waker, self._waker = self._waker, None
        if waker is not None:
            waker.cancel()
            await asyncio.gather(waker, return_exceptions=True)

    async def _stop(self, supervisor: ModemSupervisor, task: asyncio.Task[None]) -> None:
        supervisor.stop()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_S)
        if not done:  # a hung modem must not hold up shutdown
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _guard(self, supervisor: ModemSupervisor) -> None:
        """Task boundary: a bug in one supervisor is logged and restarts it, never kills the gateway."""
        while True:
            try:
                await supervisor.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: supervisor crashed; restarting it", supervisor.port)
                await asyncio.sleep(1.0)  # pacing a crash loop, not waiting for anything
