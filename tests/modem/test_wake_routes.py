"""A `queued` event wakes only the supervisor serving its SIM, through the registry's one bus subscription;
under it, one periodic read for all SIMs wakes those with a due message whose event was lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event

from gatewayd.events import LocalEventBus, MessageStatusChanged
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.hardware.loader import load_profiles, shipped_hardware_directory
from gatewayd.hardware.matching import generic_profile
from gatewayd.modem.outbox import OutboxWakeRoutes
from gatewayd.modem.registry import ModemRegistry
from gatewayd.modem.supervisor import SupervisorSettings
from gatewayd.services.container import build_services
from gatewayd.services.outbound import queue_outbound
from tests.services.conftest import Stack
from tests.services.world import physical_sim
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


async def sim(stack: Stack, index: int) -> int:
    identity = ModemIdentity.for_index(index)
    return await physical_sim(stack.services, identity.imei, identity.iccid, f"+44770090010{index}")


async def test_the_check_wakes_only_attached_sims_with_a_due_message(stack: Stack) -> None:
    outbound = stack.services.outbound
    queued, retrying, sent, empty, elsewhere = [await sim(stack, i) for i in range(1, 6)]
    for sim_id in (queued, retrying, sent, elsewhere):
        await outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text="hello")
    for sim_id in (retrying, sent):
        claimed = await outbound.claim_next(sim_id)
        assert claimed is not None
        if sim_id == retrying:
            await outbound.retry_later(claimed.id, sim_id, "network busy", delay_s=60)
        else:
            await outbound.mark_sent(claimed.id, sim_id)
    routes = OutboxWakeRoutes()
    wakes = {sim_id: asyncio.Event() for sim_id in (queued, retrying, sent, empty)}  # not `elsewhere`
    for sim_id, wake in wakes.items():
        routes.attach(sim_id, wake)

    assert await routes.check(outbound) == {queued}
    assert [sim_id for sim_id, wake in wakes.items() if wake.is_set()] == [queued]
    stack.clock.advance(61)  # the retry comes due: the check finds it like a fresh message
    assert await routes.check(outbound) == {queued, retrying}
    assert await outbound.sims_with_due([]) == set()


def outbox_reads(stack: Stack) -> dict[str, int]:
    """Counts, from now on, the periodic check's reads and the per-SIM `next_due_at` reads."""
    counts = {"check": 0, "per_sim": 0}
    engine = stack.sessions.kw["bind"].sync_engine

    def seen(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if "DISTINCT messages.hosted_sim_id" in statement:
            counts["check"] += 1
        elif statement.lstrip().startswith("SELECT messages.next_attempt_at"):
            counts["per_sim"] += 1

    event.listen(engine, "before_cursor_execute", seen)
    return counts


async def test_a_message_whose_event_was_lost_is_sent_by_the_periodic_check(
    stack: Stack, tmp_path: Path
) -> None:
    services = build_services(stack.sessions, stack.clock, bus=CountingBus())
    profile = generic_profile(load_profiles(shipped_hardware_directory() / "modems"))
    settings = SupervisorSettings(poll_interval_s=60, sweep_interval_s=60, outbox_check_s=0.2)
    registry = ModemRegistry(services.gateway, stack.clock, settings)
    async with FakeBank(MODEMS, tmp_path) as bank:
        try:
            supervisors = [registry.add(str(bank[i].path), profile) for i in range(MODEMS)]
            async with asyncio.timeout(20):
                await asyncio.gather(*(s.ready.wait() for s in supervisors))
            reads = outbox_reads(stack)
            await poll_until(lambda: _at_least(reads, "check", 5), timeout_s=10)
            # Each session reads its own queue once when it starts serving; after that only the check.
            assert reads["per_sim"] <= MODEMS
            target = supervisors[2].status.hosted_sim_id
            assert target is not None
            # Queued with no bus at all: no event, as if it were lost between the API and this gateway.
            await queue_outbound(stack.sessions, stack.clock, None, hosted_sim_id=target,
                                 recipient="+4915112345678", text="no event")  # fmt: skip

            async def submitted() -> bool:
                return bool(bank[2].modem.submitted)

            await poll_until(submitted, timeout_s=10)
            assert not bank[0].modem.submitted and not bank[1].modem.submitted
        finally:
            await registry.close()


async def _at_least(counts: dict[str, int], key: str, floor: int) -> bool:
    return counts[key] >= floor


class BrokenOnceBus(LocalEventBus):
    """The process bus, but its first subscription fails (as a subscription to a lost connection may)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def subscribe(self):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionError("bus connection lost")
        return super().subscribe()


async def test_a_broken_subscription_neither_ends_the_check_nor_the_routing(stack: Stack) -> None:
    bus, routes = BrokenOnceBus(), OutboxWakeRoutes()
    sim_id = await sim(stack, 1)
    wake = asyncio.Event()
    routes.attach(sim_id, wake)
    waker = asyncio.create_task(routes.run(stack.services.outbound, 0.05, bus))
    try:
        await poll_until(lambda: _subscribed(bus), timeout_s=10)  # started again after the failure
        bus.publish(MessageStatusChanged(1, sim_id, "queued", None))
        async with asyncio.timeout(5):
            await wake.wait()
        wake.clear()
        await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+4915112345678", text="x")
        async with asyncio.timeout(5):  # no bus event reaches it (services without a bus): the check does
            await wake.wait()
    finally:
        waker.cancel()
        await asyncio.gather(waker, return_exceptions=True)


async def _subscribed(bus: BrokenOnceBus) -> bool:
    return bus.attempts >= 2
