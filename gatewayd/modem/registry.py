"""The set of modems this gateway drives: one supervisor task per port, owned and awaited here.

Ports come from configuration, the simulator, or hotplug; removing a port stops its supervisor. Nothing
here talks to a modem: it starts, stops and lists supervisors.
"""

from __future__ import annotations

import asyncio
import logging

from gatewayd.clock import Clock
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.supervisor import ModemStatus, ModemSupervisor, SupervisorSettings
from gatewayd.services.gateway import GatewayRecorder

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0  # how long a supervisor may take to finish its command in flight at shutdown


class ModemRegistry:
    def __init__(self, recorder: GatewayRecorder, clock: Clock, settings: SupervisorSettings) -> None:
        self._recorder = recorder
        self._clock = clock
        self._settings = settings
        self._supervisors: dict[str, ModemSupervisor] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def add(self, port: str, profile: ModemProfile) -> ModemSupervisor:
        if port in self._supervisors:
            return self._supervisors[port]
        supervisor = ModemSupervisor(port, profile, self._recorder, self._clock, self._settings)
        self._supervisors[port] = supervisor
        task = asyncio.create_task(self._guard(supervisor), name=f"modem {port}")
        self._tasks[port] = task
        return supervisor

    async def remove(self, port: str) -> None:
        supervisor = self._supervisors.pop(port, None)
        task = self._tasks.pop(port, None)
        if supervisor is None or task is None:
            return
        await self._stop(supervisor, task)

    def statuses(self) -> list[ModemStatus]:
        return [supervisor.status for supervisor in self._supervisors.values()]

    def supervisors(self) -> list[ModemSupervisor]:
        return list(self._supervisors.values())

    async def close(self) -> None:
        supervisors, tasks = self._supervisors, self._tasks
        self._supervisors, self._tasks = {}, {}
        await asyncio.gather(*(self._stop(supervisors[port], tasks[port]) for port in tasks))

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
