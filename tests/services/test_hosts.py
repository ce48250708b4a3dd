"""HostService: heartbeats, the sweep that shows a silent host's SIMs offline (once, whoever sweeps), the
return of a lapsed host, SIMs that moved to a live host, and queued messages left waiting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import event, select

from gatewayd.services.hosts import HostService
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import HostedSim, Message
from tests.services.conftest import Stack
from tests.services.world import physical_sim

STALE_S = 15.0


async def sim_statuses(stack: Stack, *sim_ids: int) -> list[str]:
    async with read_transaction(stack.sessions) as session:
        rows = await session.execute(select(HostedSim.id, HostedSim.status).where(HostedSim.id.in_(sim_ids)))
        by_id = {sim_id: status for sim_id, status in rows}
    return [by_id[sim_id] for sim_id in sim_ids]


async def two_sims(stack: Stack) -> tuple[int, int]:
    first = await physical_sim(stack.services, "860000000000001", "8944000000000000001", "+447700900101")
    second = await physical_sim(stack.services, "860000000000002", "8944000000000000002", "+447700900102")
    return first, second


async def test_a_silent_host_has_its_sims_shown_offline_once(stack: Stack) -> None:
    hosts = HostService(stack.sessions, stack.clock)
    rack_a, rack_b = await two_sims(stack)
    await hosts.started("rack-a")
    await hosts.heartbeat("rack-a", [rack_a])
    await hosts.started("rack-b")
    await hosts.heartbeat("rack-b", [rack_b])
    stack.clock.advance(STALE_S - 1)
    await hosts.heartbeat("rack-b", [rack_b])
    assert await hosts.sweep(STALE_S) == []
    stack.clock.advance(2)
    lapses = await hosts.sweep(STALE_S)
    assert [(lapse.host, lapse.offline_sim_ids) for lapse in lapses] == [("rack-a", (rack_a,))]
    assert await sim_statuses(stack, rack_a, rack_b) == ["offline", "active"]
    stack.clock.advance(1)
    assert await hosts.sweep(STALE_S) == []  # the lapse is handled once
    views = {view.name: view for view in await hosts.hosts()}
    assert views["rack-a"].lapsed_at is not None and not views["rack-a"].alive(stack.clock.now(), STALE_S)
    assert views["rack-b"].alive(stack.clock.now(), STALE_S)


async def test_a_sweep_with_every_host_beating_is_one_small_read(stack: Stack) -> None:
    """Every API process sweeps every few seconds; with no silent host that must not load every host row
    in a write transaction (on SQLite, a writer turn taken from ingest each time)."""
    hosts = HostService(stack.sessions, stack.clock)
    sim_id, _ = await two_sims(stack)
    await hosts.heartbeat("rack-a", [sim_id])
    await hosts.started("rack-b")
    statements: list[str] = []
    engine = stack.sessions.kw["bind"].sync_engine

    def seen(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert await hosts.sweep(STALE_S) == []
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    on_hosts = [s for s in statements if "gateway_hosts" in s]
    assert len(on_hosts) == 1 and "LIMIT" in on_hosts[0].upper(), on_hosts
    assert not any("BEGIN IMMEDIATE" in s for s in statements)


async def test_concurrent_sweepers_act_once(stack: Stack) -> None:
    """Every API process sweeps; the guarded UPDATE lets exactly one of them report the lapse."""
    hosts = HostService(stack.sessions, stack.clock)
    sim_id, _ = await two_sims(stack)
    await hosts.heartbeat("rack-a", [sim_id])
    stack.clock.advance(STALE_S + 1)
    results = await asyncio.gather(*(hosts.sweep(STALE_S) for _ in range(6)))
    assert sorted(len(result) for result in results) == [0, 0, 0, 0, 0, 1]


async def test_a_lapsed_host_that_beats_again_brings_its_ready_sims_back(stack: Stack) -> None:
    hosts = HostService(stack.sessions, stack.clock)
    first, second = await two_sims(stack)
    await hosts.heartbeat("rack-a", [first, second])
    stack.clock.advance(STALE_S + 1)
    await hosts.sweep(STALE_S)
    assert await sim_statuses(stack, first, second) == ["offline", "offline"]
    back = await hosts.heartbeat("rack-a", [first])  # the second modem did not come back ready
    assert back == [first]
    assert await sim_statuses(stack, first, second) == ["active", "offline"]
    assert await hosts.heartbeat("rack-a", [first]) == []


async def test_a_sim_moved_to_a_live_host_is_not_taken_offline(stack: Stack) -> None:
    hosts = HostService(stack.sessions, stack.clock)
    sim_id, _ = await two_sims(stack)
    await hosts.heartbeat("rack-a", [sim_id])
    stack.clock.advance(STALE_S)
    await hosts.heartbeat("rack-b", [sim_id])  # the SIM was carried to rack B
    stack.clock.advance(2)
    lapses = await hosts.sweep(STALE_S)
    assert [(lapse.host, lapse.offline_sim_ids) for lapse in lapses] == [("rack-a", ())]
    assert await sim_statuses(stack, sim_id) == ["active"]


async def test_a_cleanly_stopped_host_is_never_swept_and_disabled_sims_stay_disabled(stack: Stack) -> None:
    hosts = HostService(stack.sessions, stack.clock)
    first, second = await two_sims(stack)
    await hosts.heartbeat("rack-a", [first])
    await hosts.stopped("rack-a")
    await hosts.heartbeat("rack-b", [second])
    async with stack.sessions() as session, session.begin():
        sim = await session.get(HostedSim, second)
        assert sim is not None
        sim.status = "disabled"
    stack.clock.advance(timedelta(hours=1).total_seconds())
    lapses = await hosts.sweep(STALE_S)
    assert [(lapse.host, lapse.offline_sim_ids) for lapse in lapses] == [("rack-b", ())]
    assert await sim_statuses(stack, first, second) == ["active", "disabled"]


async def test_queued_messages_of_a_lapsed_host_wait(stack: Stack) -> None:
    hosts = HostService(stack.sessions, stack.clock)
    sim_id, _ = await two_sims(stack)
    queued = await stack.services.outbound.queue(hosted_sim_id=sim_id, recipient="+447700900999", text="hi")
    await hosts.heartbeat("rack-a", [sim_id])
    stack.clock.advance(STALE_S + 1)
    await hosts.sweep(STALE_S)
    async with read_transaction(stack.sessions) as session:
        message = await session.get(Message, queued.id)
        assert message is not None and message.status == "queued"
    claimed = await stack.services.outbound.claim_next(sim_id)  # the SIM's next gateway sends it
    assert claimed is not None and claimed.id == queued.id
