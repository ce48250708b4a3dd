"""SIM locks over HTTP: 201 new, 200 extended, 409 naming the holder, idempotent release, 403 for
someone else's, expiry by the clock alone, and exclusivity under 50 simultaneous acquisitions."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.api.conftest import World
from tests.api.contract import ApiClient
from tests.api.people import colleague


def lock_path(world: World, sim: int | None = None) -> str:
    return f"/api/sims/{world.seeded.acme_sim if sim is None else sim}/lock"


async def test_acquire_extend_status_release(api: ApiClient, world: World) -> None:
    path, token = lock_path(world), world.seeded.acme_token
    assert (await api.get(path, token)).body == {"status": "unlocked"}
    first = await api.call("POST", path, token, json={})
    assert first.status == 201
    assert first.body["status"] == "locked" and first.body["user_name"] == "acme owner"
    assert first.body["expires_at"] == "2026-05-11T15:05:00Z"  # default lifetime: 5 minutes
    world.clock.advance(60)
    again = await api.call("POST", path, token)  # no body at all, as some clients send it
    assert again.status == 200
    assert again.body["lock_id"] == first.body["lock_id"]
    assert again.body["expires_at"] == "2026-05-11T15:06:00Z"
    status = await api.get(path, token)
    assert status.body == again.body
    released = await api.call("DELETE", path, token)
    assert (released.status, released.body) == (200, {"status": "unlocked"})
    assert (await api.call("DELETE", path, token)).status == 200  # idempotent
    assert (await api.get(path, token)).body == {"status": "unlocked"}


async def test_an_api_key_acts_as_its_user(api: ApiClient, world: World) -> None:
    path = lock_path(world)
    assert (await api.call("POST", path, world.seeded.acme_token)).status == 201
    # The key belongs to the same user: it extends the lock rather than being refused.
    assert (await api.call("POST", path, world.seeded.acme_key)).status == 200


async def test_someone_elses_lock_is_409_with_holder_and_403_on_release(api: ApiClient, world: World) -> None:
    bob = await colleague(world, "bob")
    path = lock_path(world)
    held = await api.call("POST", path, world.seeded.acme_token, json={"duration_seconds": 120})
    assert held.body["expires_at"] == "2026-05-11T15:02:00Z"
    refused = await api.call("POST", path, bob.token)
    assert refused.status == 409
    assert refused.body["user_name"] == "acme owner"
    assert refused.body["user_id"] == held.body["user_id"]
    assert refused.body["expires_at"] == held.body["expires_at"]
    release = await api.call("DELETE", path, bob.token)
    assert release.status == 403
    assert (await api.get(path, bob.token)).body == held.body  # bob may see who holds it


async def test_an_expired_lock_is_gone_without_any_sweep(api: ApiClient, world: World) -> None:
    bob = await colleague(world, "bob")
    path = lock_path(world)
    await api.call("POST", path, world.seeded.acme_token, json={"duration_seconds": 30})
    world.clock.advance(30)
    assert (await api.get(path, bob.token)).body == {"status": "unlocked"}
    taken = await api.call("POST", path, bob.token)
    assert (taken.status, taken.body["user_name"]) == (201, "bob")


async def test_bad_duration_is_422_and_malformed_body_400(api: ApiClient, world: World) -> None:
    path = lock_path(world)
    bad = await api.call("POST", path, world.seeded.acme_token, json={"duration_seconds": 0})
    assert (bad.status, list(bad.body["errors"])) == (422, ["duration_seconds"])
    broken = await api.call("POST", path, world.seeded.acme_token, data=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert broken.status == 400


async def test_fifty_simultaneous_acquisitions_give_exactly_one_201(api: ApiClient, world: World) -> None:
    people = [await colleague(world, f"racer{n:02}") for n in range(50)]
    path = lock_path(world)
    replies = await asyncio.gather(*(api.call("POST", path, person.token) for person in people))
    statuses = Counter(reply.status for reply in replies)
    assert statuses == {201: 1, 409: 49}, statuses
    winner = next(reply.body for reply in replies if reply.status == 201)
    assert all(reply.body["user_id"] == winner["user_id"] for reply in replies if reply.status == 409)
    assert (await api.get(path, world.seeded.acme_token)).body == winner


async def test_locks_of_two_sims_are_independent(api: ApiClient, world: World) -> None:
    bob = await colleague(world, "bob")
    assert (await api.call("POST", lock_path(world), world.seeded.acme_token)).status == 201
    other = await api.call("POST", lock_path(world, world.seeded.acme_empty_sim), bob.token)
    assert other.status == 201
