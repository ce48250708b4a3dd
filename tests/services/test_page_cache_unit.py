"""MessagePageCache on its own: what it keeps, what makes an entry stale, and that it keeps nothing unless
an event stream is being followed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gatewayd.clock import ManualClock
from gatewayd.events import (
    DeviceStatusChanged,
    LocalEventBus,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
)
from gatewayd.services.page_cache import MessagePageCache, sims_touched_by

NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def following(cache: MessagePageCache[str], bus: LocalEventBus) -> asyncio.Task[None]:
    task = asyncio.create_task(cache.follow(bus))
    for _ in range(100):  # the task subscribes on its first step
        if cache.active:
            return task
        await asyncio.sleep(0)
    raise AssertionError("the cache never started following")


async def settled(bus_events: int, cache: MessagePageCache[str], sim: int, generation: int) -> None:
    """Yield until the follower has applied the published events (its generation moved)."""
    for _ in range(100):
        if cache.generation(sim) >= generation + bus_events:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"generation of SIM {sim} stayed at {cache.generation(sim)}")


async def test_keeps_nothing_without_a_follower() -> None:
    cache: MessagePageCache[str] = MessagePageCache(ManualClock())
    cache.put(1, 1, 50, generation=0, value="page", lock=None)
    cache.note_visible(1, None, 1)
    assert cache.get(1, 1, 50) is None and not cache.seen_visible(1, None, 1)


async def test_an_event_for_the_sim_makes_its_pages_stale_and_only_its_pages() -> None:
    clock, bus = ManualClock(), LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(clock)
    task = await following(cache, bus)
    try:
        for sim in (1, 2):
            cache.put(sim, 1, 50, generation=cache.generation(sim), value=f"page of {sim}", lock=None)
        hit = cache.get(1, 1, 50)
        assert hit is not None and hit.page == "page of 1"
        before = cache.generation(1)
        bus.publish(MessageReceived(7, 1, "+1555", None, "hi", NOW))
        await settled(1, cache, 1, before)
        assert cache.get(1, 1, 50) is None
        assert cache.get(2, 1, 50) is not None
    finally:
        task.cancel()


async def test_a_page_read_while_an_event_arrived_is_never_kept() -> None:
    bus = LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(ManualClock())
    task = await following(cache, bus)
    try:
        before = cache.generation(1)  # taken before the read, as MessageService does
        bus.publish(SimLocked(1, 3, 4, "bob", NOW))
        await settled(1, cache, 1, before)
        cache.put(1, 1, 50, generation=before, value="read before the lock", lock=None)
        assert cache.get(1, 1, 50) is None
    finally:
        task.cancel()


async def test_pages_and_visibility_age_out_after_the_ttl() -> None:
    clock, bus = ManualClock(), LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(clock, ttl_s=5)
    task = await following(cache, bus)
    try:
        cache.put(1, 1, 50, generation=0, value="page", lock=None)
        cache.note_visible(10, None, 1)
        clock.advance(4.9)
        assert cache.get(1, 1, 50) is not None and cache.seen_visible(10, None, 1)
        assert not cache.seen_visible(10, 99, 1)  # another caller has not been checked
        clock.advance(0.1)
        assert cache.get(1, 1, 50) is None and not cache.seen_visible(10, None, 1)
    finally:
        task.cancel()


async def test_ttl_zero_disables_the_cache() -> None:
    bus = LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(ManualClock(), ttl_s=0)
    task = asyncio.create_task(cache.follow(bus))
    await asyncio.sleep(0)
    try:
        cache.put(1, 1, 50, generation=0, value="page", lock=None)
        assert cache.get(1, 1, 50) is None
    finally:
        task.cancel()


async def test_an_overflowing_subscription_forgets_everything() -> None:
    bus = LocalEventBus(queue_size=2)
    cache: MessagePageCache[str] = MessagePageCache(ManualClock())
    task = await following(cache, bus)
    try:
        cache.put(5, 1, 50, generation=0, value="page", lock=None)
        for n in range(4):  # published faster than the follower runs: two are dropped
            bus.publish(MessageStatusChanged(n, 1, "sent", None))
        for _ in range(100):
            if cache.get(5, 1, 50) is None:
                break
            await asyncio.sleep(0)
        assert cache.get(5, 1, 50) is None  # SIM 5 had no event of its own: lost events may have been its
    finally:
        task.cancel()


async def test_stopping_the_follower_forgets_and_stops_caching() -> None:
    bus = LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(ManualClock())
    task = await following(cache, bus)
    cache.put(1, 1, 50, generation=0, value="page", lock=None)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not cache.active and cache.get(1, 1, 50) is None


async def test_the_number_of_pages_is_bounded_least_recently_used_first() -> None:
    bus = LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(ManualClock(), max_pages=2)
    task = await following(cache, bus)
    try:
        for page in (1, 2):
            cache.put(1, page, 50, generation=0, value=f"p{page}", lock=None)
        assert cache.get(1, 1, 50) is not None  # page 2 is now the least recently used
        cache.put(1, 3, 50, generation=0, value="p3", lock=None)
        assert [cache.get(1, page, 50) is not None for page in (1, 2, 3)] == [True, False, True]
    finally:
        task.cancel()


def test_which_sims_each_event_touches() -> None:
    assert sims_touched_by(MessageReceived(1, 4, "+1", None, "x", NOW)) == (4,)
    assert sims_touched_by(MessageStatusChanged(1, None, "sent", None)) == ()
    assert sims_touched_by(SimUnlocked(4, 1, 2, "expired")) == (4,)
    assert sims_touched_by(DeviceStatusChanged(1, 2, (4, 5), False, "offline")) == (4, 5)


async def test_events_lost_upstream_forget_everything_at_the_next_event() -> None:
    """A PostgreSQL bus that was not listening for a while says so (events_may_be_lost)."""
    bus = LocalEventBus()
    cache: MessagePageCache[str] = MessagePageCache(ManualClock())
    task = await following(cache, bus)
    try:
        cache.put(5, 1, 50, generation=0, value="page", lock=None)
        bus.events_may_be_lost()
        before = cache.generation(1)
        bus.publish(MessageStatusChanged(1, 1, "sent", None))
        await settled(1, cache, 1, before)
        assert cache.get(5, 1, 50) is None
    finally:
        task.cancel()
