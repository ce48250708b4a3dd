"""Domain events reach the user channels of exactly the users allowed to see them at that moment:
organisation, team, and lock holder (real services on a copy of the seeded database, the real LocalHub)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.pusher.hub import LocalHub
from api.pusher.wire import OutboundFrame
from gatewayd.clock import ManualClock
from gatewayd.delivery.realtime import RealtimeFanout, user_channels
from gatewayd.events import DeviceStatusChanged, LocalEventBus, MessageReceived, SimLocked, SimUnlocked
from gatewayd.services.audience import AudienceService
from gatewayd.services.container import Services, build_services
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import NOW, PASSWORD, Seeded


@dataclass
class UserSocket:
    """Stands in for a browser on one user channel; records the frames the hub hands it."""

    socket_id: str
    frames: list[dict[str, str]] = field(default_factory=list)

    def deliver(self, frame: OutboundFrame) -> None:
        self.frames.append(json.loads(frame.text))


@dataclass
class Scene:
    services: Services
    clock: ManualClock
    seeded: Seeded
    audience: AudienceService
    fanout: RealtimeFanout
    hub: LocalHub
    sockets: dict[int, UserSocket] = field(default_factory=dict)

    def listen(self, *user_ids: int) -> None:
        for uid in user_ids:
            self.sockets[uid] = UserSocket(f"{uid}.1")
            for channel in user_channels(uid):
                self.hub.join(channel, self.sockets[uid], None)
            self.sockets[uid].frames.clear()  # drop the subscription_succeeded frames

    def received(self, event: str) -> set[int]:
        """Who got `event` since the last call (on their Laravel user channel), then forget."""
        found = {uid for uid, socket in self.sockets.items()
                 if any(f["event"] == event and f["channel"] == user_channels(uid)[0] for f in socket.frames)}
        for socket in self.sockets.values():
            socket.frames.clear()
        return found

    async def user(self, email: str, team: str | None) -> int:
        admin = self.services.admin
        return (await admin.create_user("acme", email=email, name=email, password=None, team=team)).id


@pytest.fixture
async def scene(seeded_database: tuple[Path, Seeded], tmp_path: Path) -> AsyncIterator[Scene]:
    template, seeded = seeded_database
    shutil.copyfile(template, tmp_path / "fanout.db")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fanout.db'}")
    clock = ManualClock(NOW)
    sessions = session_factory(engine)
    services = build_services(sessions, clock)
    hub, audience = LocalHub(), AudienceService(sessions, clock)
    try:
        yield Scene(services, clock, seeded, audience, RealtimeFanout(LocalEventBus(), audience, hub), hub)
    finally:
        await engine.dispose()


def message_on(sim_id: int) -> MessageReceived:
    return MessageReceived(message_id=99, hosted_sim_id=sim_id, sender="+4915100000001",
                           recipient="+4915112345001", text="Your code is 1234",
                           received_at=datetime(2026, 5, 11, 15, 0, 30, tzinfo=UTC))


async def owner_of(scene: Scene, email: str = "owner@acme.example") -> int:
    user = await scene.services.auth.verify_credentials(email, PASSWORD)
    assert user is not None
    return user.id


async def test_message_reaches_the_team_only_with_the_documented_payload(scene: Scene) -> None:
    owner = await owner_of(scene)
    colleague = await scene.user("colleague@acme.example", "ops")
    outsider = await scene.user("outsider@acme.example", None)
    globex = await owner_of(scene, "owner@globex.example")
    scene.listen(owner, colleague, outsider, globex)
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    frame = scene.sockets[owner].frames[0]
    assert scene.received("message.received") == {owner, colleague}
    assert json.loads(frame["data"]) == {"id": 99, "hosted_sim_id": scene.seeded.acme_sim,
                                         "message_text": "Your code is 1234", "from": "+4915100000001",
                                         "to": "+4915112345001", "received_at": "2026-05-11T15:00:30Z"}
    # Both user channels carry it (Laravel's and the SimRelay clients' alias).
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert {f["channel"] for f in scene.sockets[owner].frames} == set(user_channels(owner))


async def test_a_sim_without_team_reaches_the_whole_organisation(scene: Scene) -> None:
    owner, outsider = await owner_of(scene), await scene.user("outsider@acme.example", None)
    globex = await owner_of(scene, "owner@globex.example")
    await scene.services.admin.assign_sims(org="acme", team=None, sim_id=scene.seeded.acme_sim)
    scene.listen(owner, outsider, globex)
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner, outsider}


async def test_while_a_lock_is_held_only_the_holder_gets_messages(scene: Scene) -> None:
    owner, colleague = await owner_of(scene), await scene.user("colleague@acme.example", "ops")
    scene.listen(owner, colleague)
    principal = await scene.services.auth.authenticate(scene.seeded.acme_token)
    assert principal is not None and principal.user_id == owner
    lock, _ = await scene.services.locks.acquire(principal, scene.seeded.acme_sim, 60)
    await scene.fanout.deliver(SimLocked(scene.seeded.acme_sim, lock.id, owner, "owner", lock.expires_at))
    assert scene.received("sim.locked") == {owner, colleague}  # everyone who sees the SIM learns it is locked
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner}
    scene.clock.advance(61)  # the lock expires: the team sees messages again
    await scene.fanout.deliver(message_on(scene.seeded.acme_sim))
    assert scene.received("message.received") == {owner, colleague}
    await scene.fanout.deliver(SimUnlocked(scene.seeded.acme_sim, lock.id, owner, "expired"))
    assert scene.received("sim.unlocked") == {owner, colleague}


async def test_device_status_without_sims_reaches_its_organisation(scene: Scene) -> None:
    owner, outsider = await owner_of(scene), await scene.user("outsider@acme.example", None)
    globex = await owner_of(scene, "owner@globex.example")
    scene.listen(owner, outsider, globex)
    principal = await scene.services.auth.authenticate(scene.seeded.acme_token)
    assert principal is not None
    await scene.fanout.deliver(DeviceStatusChanged(7, principal.organization_id, (), False, "offline"))
    assert scene.received("device.status") == {owner, outsider}


async def test_the_running_fanout_follows_the_bus(scene: Scene) -> None:
    owner = await owner_of(scene)
    scene.listen(owner)
    bus = LocalEventBus()
    fanout = RealtimeFanout(bus, scene.audience, scene.hub)
    task = asyncio.create_task(fanout.run())
    try:
        async with asyncio.timeout(5):
            while not bus._subscribers:  # noqa: SLF001, ASYNC110 - wait until the task has subscribed
                await asyncio.sleep(0)
            bus.publish(message_on(scene.seeded.acme_sim))
            while fanout.delivered == 0:  # noqa: ASYNC110 - the fan-out exposes a counter, not an event
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert scene.received("message.received") == {owner}
