"""LockService on a real database file: exclusivity across two engines (two API processes), events after
commit for lock, release and expiry, and the sweep."""

from __future__ import annotations

import asyncio

import pytest

from gatewayd.errors import Conflict, Forbidden, NotFound
from gatewayd.events import LocalEventBus, SimLocked, SimUnlocked
from gatewayd.services.container import build_services
from gatewayd.services.views import Principal
from gatewayd.store.engine import create_engine, session_factory
from tests.services.conftest import Stack
from tests.services.world import organization, physical_sim, principal_for_user


async def users(stack: Stack, count: int) -> list[Principal]:
    result = []
    for n in range(count):
        await stack.services.admin.create_user("acme", email=f"u{n}@acme.example", name=f"user {n}",
                                               password="correct horse battery", team="ops")
        result.append(await principal_for_user(stack.services, f"u{n}@acme.example"))
    return result


@pytest.fixture
async def sim(stack: Stack) -> int:
    await organization(stack.services, "acme", team="ops")
    sim_id = await physical_sim(stack.services, "860000000000001", "8944000000000000001")
    await stack.services.admin.assign_sims(org="acme", team="ops", sim_id=sim_id)
    return sim_id


async def test_two_processes_racing_give_one_holder(stack: Stack, sim: int) -> None:
    """Two engines (connection pools) on one database file stand for two API processes."""
    people = await users(stack, 12)
    other_engine = create_engine(stack.url)
    try:
        other = build_services(session_factory(other_engine), stack.clock)
        services = [stack.services.locks, other.locks]
        results = await asyncio.gather(
            *(services[n % 2].acquire(person, sim) for n, person in enumerate(people)),
            return_exceptions=True)
    finally:
        await other_engine.dispose()
    created = [result for result in results if isinstance(result, tuple) and result[1]]
    conflicts = [result for result in results if isinstance(result, Conflict)]
    assert (len(created), len(conflicts)) == (1, 11), results
    assert all(conflict.details["lock_id"] == created[0][0].id for conflict in conflicts)


async def test_events_follow_lock_release_and_expiry(stack: Stack, sim: int) -> None:
    bus = LocalEventBus()
    locks = build_services(stack.sessions, stack.clock, bus=bus, lock_ttl_s=60).locks
    subscription = bus.subscribe()
    alice, bob = await users(stack, 2)
    lock, created = await locks.acquire(alice, sim)
    assert created
    await locks.release(alice, sim)
    second, _ = await locks.acquire(bob, sim)
    stack.clock.advance(60)
    assert await locks.status(alice, sim) is None  # expired: absent before any sweep
    assert await locks.sweep() == 1
    assert await locks.sweep() == 0
    subscription.close()
    events = [event async for event in subscription]
    assert events == [
        SimLocked(sim, lock.id, alice.user_id, "user 0", lock.expires_at),
        SimUnlocked(sim, lock.id, alice.user_id, "released"),
        SimLocked(sim, second.id, bob.user_id, "user 1", second.expires_at),
        SimUnlocked(sim, second.id, bob.user_id, "expired"),
    ]


async def test_taking_over_an_expired_lock_announces_its_expiry(stack: Stack, sim: int) -> None:
    bus = LocalEventBus()
    locks = build_services(stack.sessions, stack.clock, bus=bus, lock_ttl_s=60).locks
    alice, bob = await users(stack, 2)
    old, _ = await locks.acquire(alice, sim)
    stack.clock.advance(61)
    subscription = bus.subscribe()
    new, created = await locks.acquire(bob, sim)
    subscription.close()
    assert created and new.id != old.id
    assert [event async for event in subscription] == [
        SimUnlocked(sim, old.id, alice.user_id, "expired"),
        SimLocked(sim, new.id, bob.user_id, "user 1", new.expires_at),
    ]


async def test_release_rules_and_visibility(stack: Stack, sim: int) -> None:
    alice, bob = await users(stack, 2)
    globex = await organization(stack.services, "globex")
    await stack.services.locks.release(alice, sim)  # nothing held: fine
    await stack.services.locks.acquire(alice, sim)
    with pytest.raises(Forbidden):
        await stack.services.locks.release(bob, sim)
    for call in (stack.services.locks.acquire, stack.services.locks.status, stack.services.locks.release):
        with pytest.raises(NotFound):
            await call(globex.user, sim)
    with pytest.raises(NotFound):
        await stack.services.locks.acquire(globex.key, sim)


async def test_one_user_cycling_one_sim_from_many_connections_never_gets_a_holderless_409(
        stack: Stack, sim: int) -> None:
    """Lock and release racing on one SIM from two processes: each acquire ends as new or extended. On
    PostgreSQL the acquire once lost the row to a concurrent release five times running and answered a
    409 naming nobody; the SIM's row lock makes lock changes on one SIM take turns."""
    [alice] = await users(stack, 1)
    other_engine = create_engine(stack.url)
    try:
        other = build_services(session_factory(other_engine), stack.clock)
        services = [stack.services.locks, other.locks]

        async def cycle(worker: int) -> None:
            locks = services[worker % 2]
            for _ in range(15):
                await locks.acquire(alice, sim)
                await locks.release(alice, sim)

        await asyncio.gather(*(cycle(worker) for worker in range(16)))
    finally:
        await other_engine.dispose()
    assert await stack.services.locks.status(alice, sim) is None
