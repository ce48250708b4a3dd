"""Message pages served from memory by MessageService while the page cache follows the bus, on a real
store: a repeated read skips the database, and every change (a message, a lock taken, extended or
released by anyone) is seen by the very next read once its event has been applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from gatewayd.errors import Conflict, NotFound
from gatewayd.events import LocalEventBus
from gatewayd.services.container import Services, build_services
from gatewayd.services.gateway import ReceivedSms
from gatewayd.services.views import MessageView, Page, Principal
from tests.services.conftest import Stack
from tests.services.world import PASSWORD, Org, organization, physical_sim, principal_for_user


@pytest.fixture
async def live(stack: Stack) -> AsyncIterator[tuple[Services, LocalEventBus]]:
    """Services publishing on one bus, with the page cache following it (as the runtime's API role)."""
    bus = LocalEventBus()
    services = build_services(stack.sessions, stack.clock, bus=bus)
    follower = asyncio.create_task(services.messages.follow_changes(bus))
    for _ in range(100):
        if services.messages.pages.active:
            break
        await asyncio.sleep(0)
    yield services, bus
    follower.cancel()


async def received(services: Services, sim_id: int, *names: str) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    await services.gateway.store_received(sim_id, [
        ReceivedSms(identity_key=name, sender="+1555", text=name, data=None, encoding="gsm7", received_at=at,
                    concat=None) for name in names])


async def page_eventually(services: Services, who: Principal, sim_id: int,
                          wanted_total: int) -> Page[MessageView]:
    """The page once the follower has applied the events published so far (a few loop turns)."""
    for _ in range(200):
        page = await services.messages.page_for(who, sim_id, page=1, per_page=10)
        if page.total == wanted_total:
            return page
        await asyncio.sleep(0)
    raise AssertionError(f"the page never showed {wanted_total} messages")


async def world(services: Services) -> tuple[Org, int]:
    org = await organization(services, "acme")
    sim_id = await physical_sim(services, "860000000000001", "8944000000000000001", "+447700900100")
    await services.admin.assign_sims(org="acme", team=None, all_unassigned=True)
    return org, sim_id


async def colleague(services: Services) -> Principal:
    """Bob, another user of acme with a personal access token."""
    await services.admin.create_user("acme", email="bob@acme.example", name="bob", password=PASSWORD,
                                     team=None)
    return await principal_for_user(services, "bob@acme.example")


async def test_a_repeated_read_is_served_from_memory_and_a_new_message_is_seen(
        live: tuple[Services, LocalEventBus]) -> None:
    services, _ = live
    org, sim_id = await world(services)
    await received(services, sim_id, "first")
    await page_eventually(services, org.key, sim_id, 1)  # its event applied: the next read is kept
    first = await services.messages.page_for(org.key, sim_id, page=1, per_page=10)
    hits = services.messages.pages.hits
    again = await services.messages.page_for(org.key, sim_id, page=1, per_page=10)
    assert again is first and services.messages.pages.hits == hits + 1
    await received(services, sim_id, "second")
    newer = await page_eventually(services, org.key, sim_id, 2)
    assert sorted(m.text or "" for m in newer.items) == ["first", "second"]


async def test_another_users_lock_turns_cached_reads_into_409_and_release_back(
        live: tuple[Services, LocalEventBus], stack: Stack) -> None:
    services, _ = live
    org, sim_id = await world(services)
    bob = await colleague(services)
    await received(services, sim_id, "code 1234")
    await services.messages.page_for(org.user, sim_id, page=1, per_page=10)  # cached now
    await services.locks.acquire(bob, sim_id)
    await asyncio.sleep(0)  # let the follower apply SimLocked (a stale hit would still be a bug below)
    for _ in range(200):
        try:
            await services.messages.page_for(org.user, sim_id, page=1, per_page=10)
        except Conflict as conflict:
            assert conflict.details["user_name"] == "bob"
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError("the owner kept reading through bob's lock")
    # Bob reads his own conversation (and caches it with his lock in it); the owner still may not.
    await services.messages.page_for(bob, sim_id, page=1, per_page=10)
    with pytest.raises(Conflict):
        await services.messages.page_for(org.user, sim_id, page=1, per_page=10)
    await services.locks.release(bob, sim_id)
    for _ in range(200):
        try:
            page = await services.messages.page_for(org.user, sim_id, page=1, per_page=10)
            break
        except Conflict:
            await asyncio.sleep(0)
    else:
        raise AssertionError("the owner never read again after bob released")
    assert [m.text for m in page.items] == ["code 1234"]


async def test_an_extended_lock_keeps_refusing_past_its_first_expiry(
        live: tuple[Services, LocalEventBus], stack: Stack) -> None:
    """Within the page lifetime (5 s): a page cached with bob's 3 s lock must not outlive his extension,
    or the owner would read bob's conversation once the first expiry passed."""
    services, _ = live
    org, sim_id = await world(services)
    bob = await colleague(services)
    await services.messages.page_for(org.user, sim_id, page=1, per_page=10)  # the owner may see the SIM
    await services.locks.acquire(bob, sim_id, duration_s=3)
    await asyncio.sleep(0)  # SimLocked applied before bob's read, so his read is kept
    await services.messages.page_for(bob, sim_id, page=1, per_page=10)
    assert services.messages.pages.get(sim_id, 1, 10) is not None  # cached, holding the 3 s lock
    await services.locks.acquire(bob, sim_id, duration_s=60)
    await asyncio.sleep(0)  # time passes (one loop turn is all the follower needs)
    stack.clock.advance(4)  # past the first expiry, within the page lifetime
    with pytest.raises(Conflict):
        await services.messages.page_for(org.user, sim_id, page=1, per_page=10)


async def test_a_lock_that_expires_by_the_clock_alone_stops_refusing(
        live: tuple[Services, LocalEventBus], stack: Stack) -> None:
    services, _ = live
    org, sim_id = await world(services)
    bob = await colleague(services)
    await services.locks.acquire(bob, sim_id, duration_s=3)  # default page-cache ttl is 5 s
    await services.messages.page_for(bob, sim_id, page=1, per_page=10)  # cached with bob's lock
    with pytest.raises(Conflict):
        await services.messages.page_for(org.user, sim_id, page=1, per_page=10)
    stack.clock.advance(3)  # no sweep ran: the lock is simply over
    page = await services.messages.page_for(org.user, sim_id, page=1, per_page=10)
    assert page.total == 0


async def test_invisible_sims_are_never_served_from_memory(live: tuple[Services, LocalEventBus]) -> None:
    services, _ = live
    org, sim_id = await world(services)
    outsider = await organization(services, "globex")
    await services.messages.page_for(org.key, sim_id, page=1, per_page=10)
    for _ in range(2):
        with pytest.raises(NotFound):
            await services.messages.page_for(outsider.key, sim_id, page=1, per_page=10)
