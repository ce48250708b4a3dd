"""The realtime feed remembers a SIM's audience for a short window: lock events make it read afresh at once
(the lock holder's privacy), an expired remembered lock is never trusted, and a team change shows within
the TTL (real services on a copy of the seeded database, the real LocalHub)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.pusher.hub import LocalHub
from gatewayd.clock import ManualClock
from gatewayd.delivery.realtime import RealtimeFanout
from gatewayd.events import LocalEventBus, SimLocked, SimUnlocked
from gatewayd.services.audience import RECENT_AUDIENCE_TTL_S, AudienceService
from gatewayd.services.container import build_services
from gatewayd.services.locks import LockView
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import NOW, Seeded
from tests.api.pusher.test_fanout import Scene, message_on, owner_of


@dataclass
class CachedScene:
    scene: Scene
    engine: AsyncEngine

    @contextmanager
    def audience_reads(self) -> Iterator[list[str]]:
        """The store reads of SIM audiences (assignments) made while the block runs."""
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "sim_assignments" in statement:
                seen.append(statement)

        event.listen(self.engine.sync_engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", record)


async def make_scene(seeded_database: tuple[Path, Seeded], tmp_path: Path, ttl_s: float) -> CachedScene:
    template, seeded = seeded_database
    shutil.copyfile(template, tmp_path / "fanout.db")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fanout.db'}")
    clock = ManualClock(NOW)
    sessions = session_factory(engine)
    services = build_services(sessions, clock)
    hub, audience = LocalHub(), AudienceService(sessions, clock, recent_ttl_s=ttl_s)
    fanout = RealtimeFanout(LocalEventBus(), audience, hub)
    return CachedScene(Scene(services, clock, seeded, audience, fanout, hub), engine)


@pytest.fixture
async def cached(seeded_database: tuple[Path, Seeded], tmp_path: Path) -> AsyncIterator[CachedScene]:
    made = await make_scene(seeded_database, tmp_path, RECENT_AUDIENCE_TTL_S)
    try:
        yield made
    finally:
        await made.engine.dispose()


@pytest.fixture
async def long_memory(seeded_database: tuple[Path, Seeded], tmp_path: Path) -> AsyncIterator[CachedScene]:
    """A TTL far longer than any lock here, so only the lock rules can make the feed read again."""
    made = await make_scene(seeded_database, tmp_path, 24 * 3600.0)
    try:
        yield made
    finally:
        await made.engine.dispose()


async def take_lock(scene: Scene, ttl_s: int) -> LockView:
    principal = await scene.services.auth.authenticate(scene.seeded.acme_token)
    assert principal is not None
    lock, _ = await scene.services.locks.acquire(principal, scene.seeded.acme_sim, ttl_s)
    return lock


async def test_messages_of_a_sim_read_its_audience_once_per_window(cached: CachedScene) -> None:
    scene = cached.scene
    owner, colleague = await owner_of(scene), await scene.user("colleague@acme.example", "ops")
    scene.listen(owner, colleague)
    with cached.audience_reads() as reads:
        for _ in range(5):
            await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert len(reads) == 1
    assert scene.received("message.received") == {owner, colleague}
    newcomer = await scene.user("newcomer@acme.example", "ops")
    scene.listen(newcomer)
    scene.clock.advance(RECENT_AUDIENCE_TTL_S)  # a team change shows within the TTL
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner, colleague, newcomer}


async def test_a_lock_event_hides_the_next_message_from_the_team_at_once(long_memory: CachedScene) -> None:
    scene = long_memory.scene
    owner, colleague = await owner_of(scene), await scene.user("colleague@acme.example", "ops")
    scene.listen(owner, colleague)
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))  # remembered: no lock
    assert scene.received("message.received") == {owner, colleague}

    lock = await take_lock(scene, 600)
    await scene.fanout.deliver(SimLocked(scene.seeded.acme_sim, lock.id, owner, "owner", lock.expires_at))
    assert scene.received("sim.locked") == {owner, colleague}
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner}

    principal = await scene.services.auth.authenticate(scene.seeded.acme_token)
    assert principal is not None
    await scene.services.locks.release(principal, scene.seeded.acme_sim)
    await scene.fanout.deliver(SimUnlocked(scene.seeded.acme_sim, lock.id, owner, "released"))
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner, colleague}


async def test_a_remembered_lock_past_its_expiry_is_read_again(long_memory: CachedScene) -> None:
    scene = long_memory.scene
    owner, colleague = await owner_of(scene), await scene.user("colleague@acme.example", "ops")
    scene.listen(owner, colleague)
    await take_lock(scene, 60)
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))  # remembered: held until +60 s
    assert scene.received("message.received") == {owner}
    await take_lock(scene, 300)  # extended; its SimLocked event has not reached the feed
    scene.clock.advance(61)
    # The remembered expiry has passed, but the lock has not: still the holder's alone.
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner}
    scene.clock.advance(300)  # now it has expired (no event either): the team sees messages again
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner, colleague}


async def test_an_answer_read_while_the_sim_was_forgotten_is_not_remembered(cached: CachedScene) -> None:
    scene, audience = cached.scene, cached.scene.audience
    owner, colleague = await owner_of(scene), await scene.user("colleague@acme.example", "ops")
    with cached.audience_reads() as reads:
        async with asyncio.timeout(5):
            reading = asyncio.create_task(audience.of_sim_recent(scene.seeded.acme_sim))
            while not reads:  # noqa: ASYNC110 - the read has no event; poll until it has begun
                await asyncio.sleep(0)
            audience.forget(scene.seeded.acme_sim)  # a lock event arrives before the read finishes
            assert (await reading).message_readers == {owner, colleague}
        await audience.of_sim_recent(scene.seeded.acme_sim)
    assert len(reads) == 2  # the answer read across the forget was not reused
