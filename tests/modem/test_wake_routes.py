"""A `queued` event wakes only the supervisor serving its SIM, through the registry's one bus subscription."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gatewayd.events import LocalEventBus, MessageStatusChanged
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.matching import generic_profile
from gatewayd.modem.outbox import OutboxWakeRoutes
from gatewayd.modem.registry import ModemRegistry
from gatewayd.modem.supervisor import SupervisorSettings
from gatewayd.services.container import build_services
from tests.services.conftest import Stack
from tests.system.conftest import poll_until

MODEMS = 3


class CountingBus(LocalEventBus):
    """The process bus, counting subscriptions: the claim is one for the whole registry."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions = 0
        self.subscribed = asyncio.Event()

    def subscribe(self):  # type: ignore[no-untyped-def]
        self.subscriptions += 1
        self.subscribed.set()
        return super().subscribe()


async def test_a_queued_event_wakes_only_the_owner() -> None:
    bus, routes = CountingBus(), OutboxWakeRoutes()
    owner, other = asyncio.Event(), asyncio.Event()
    routes.attach(7, owner)
    routes.attach(8, other)
    listener = asyncio.create_task(routes.listen(bus))
    try:
        async with asyncio.timeout(5):
            await bus.subscribed.wait()  # an event published before would not reach the listener
        bus.publish(MessageStatusChanged(1, 7, "sent", None))  # not a queued one: nobody wakes
        bus.publish(MessageStatusChanged(2, 7, "queued", None))
        async with asyncio.timeout(5):
            await owner.wait()
        assert not other.is_set()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


def test_a_stale_detach_keeps_the_new_owner() -> None:
    routes = OutboxWakeRoutes()
    old, new = asyncio.Event(), asyncio.Event()
    routes.attach(5, old)
    routes.attach(5, new)  # the SIM moved to another modem before the old session ended
    routes.detach(5, old)
    assert routes.wake(5) and new.is_set() and not old.is_set()
    routes.detach(5, new)
    assert not routes.wake(5)


async def test_registry_subscribes_once_and_the_owner_sends_at_once(stack: Stack, tmp_path: Path) -> None:
    bus = CountingBus()
    services = build_services(stack.sessions, stack.clock, bus=bus)
    profile = generic_profile(load_profiles(shipped_hardware_directory() / "modems"))
    # A 10-minute periodic check: a send within seconds can only come from the routed wake-up.
    settings = SupervisorSettings(poll_interval_s=60, sweep_interval_s=60, outbox_check_s=600)
    registry = ModemRegistry(services.gateway, stack.clock, settings)
    async with FakeBank(MODEMS, tmp_path) as bank:
        try:
            supervisors = [registry.add(str(bank[i].path), profile) for i in range(MODEMS)]
            async with asyncio.timeout(20):
                await asyncio.gather(*(s.ready.wait() for s in supervisors))
            assert bus.subscriptions == 1
            target = supervisors[1]
            assert target.status.hosted_sim_id is not None
            await services.outbound.queue(
                hosted_sim_id=target.status.hosted_sim_id, recipient="+4915112345678", text="routed"
            )

            async def submitted() -> bool:
                return bool(bank[1].modem.submitted)

            await poll_until(submitted, timeout_s=10)
            assert not bank[0].modem.submitted and not bank[2].modem.submitted
        finally:
            await registry.close()
