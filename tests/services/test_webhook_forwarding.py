"""Forwarding rules of the webhook outbox: which integrations an inbound SMS reaches, written in the
same transaction as the message (`always`, `lock_required`, inactive integrations and mappings); lock
events with the lock change and outbound outcomes with the status change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gatewayd.services.webhooks import IntegrationInput
from gatewayd.store.engine import read_transaction
from gatewayd.store.models_webhooks import WebhookDelivery
from tests.delivery.conftest import OWNER, Rig, make_rig
from tests.services.world import ALL, PASSWORD, principal_for_key


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The real-receiver rig of the delivery tests."""
    async with make_rig(tmp_path) as made:
        yield made


async def events_for(rig: Rig, integration_id: int) -> list[str]:
    async with read_transaction(rig.sessions) as session:
        rows = await session.scalars(
            select(WebhookDelivery.event)
            .where(WebhookDelivery.webhook_integration_id == integration_id)
            .order_by(WebhookDelivery.id)
        )
        return list(rows)


async def inbound_for(rig: Rig, integration_id: int) -> list[str]:
    """The message events only (the locks taken along the way write lock events of their own)."""
    return [event for event in await events_for(rig, integration_id) if event.startswith("message.")]


async def test_always_forwards_whoever_holds_the_lock_and_lock_required_only_for_the_team(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    await rig.inbound(1, "unlocked")
    assert await inbound_for(rig, always) == ["message.inbound"]
    assert await inbound_for(rig, gated) == []

    await rig.services.admin.create_user(
        "acme", email="outsider@acme.example", name="Outsider", password=PASSWORD, team=None
    )
    outsider = await principal_for_key(rig.services, "acme", "outsider@acme.example", ALL)
    await rig.services.locks.acquire(outsider, rig.sim_id)
    await rig.inbound(1, "outsider-lock")
    assert await inbound_for(rig, gated) == []  # a lock, but not held by a member of the mapped team
    await rig.services.locks.release(outsider, rig.sim_id)

    member = await principal_for_key(rig.services, "acme", OWNER, ALL)
    await rig.services.locks.acquire(member, rig.sim_id)
    await rig.inbound(1, "member-lock")
    assert await inbound_for(rig, gated) == ["message.inbound"]
    assert await inbound_for(rig, always) == ["message.inbound"] * 3

    rig.clock.advance(24 * 3600)  # the lock expired (its row may still be there): counts as absent
    await rig.inbound(1, "expired-lock")
    assert await inbound_for(rig, gated) == ["message.inbound"]


async def test_inactive_integrations_and_mappings_receive_nothing(rig: Rig) -> None:
    integration = await rig.integration("/off")
    await rig.services.webhooks.update(rig.key, integration, IntegrationInput(is_active=False))
    await rig.inbound(1, "a")
    assert await events_for(rig, integration) == []
    await rig.services.webhooks.update(rig.key, integration, IntegrationInput(is_active=True))
    (mapping,), _ = await rig.services.webhooks.list_mappings(rig.key, integration)
    await rig.services.webhooks.update_mapping(
        rig.key, integration, mapping.id, forwarding_mode=None, is_active=False
    )
    await rig.inbound(1, "b")
    assert await events_for(rig, integration) == []


async def test_a_sim_outside_the_mapped_team_reaches_no_integration(rig: Rig) -> None:
    integration = await rig.integration("/hook")
    await rig.services.admin.create_team("acme", "other")
    await rig.services.admin.assign_sims(org="acme", team="other", sim_id=rig.sim_id)
    await rig.inbound(2)
    assert await events_for(rig, integration) == []


async def bodies_for(rig: Rig, integration_id: int) -> list[dict[str, Any]]:
    async with read_transaction(rig.sessions) as session:
        rows = await session.scalars(
            select(WebhookDelivery.body)
            .where(WebhookDelivery.webhook_integration_id == integration_id)
            .order_by(WebhookDelivery.id)
        )
        return [json.loads(body) for body in rows]


async def test_lock_taken_released_and_expired_are_written_with_the_lock_change(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    member = await principal_for_key(rig.services, "acme", OWNER, ALL)
    lock, created = await rig.services.locks.acquire(member, rig.sim_id, 60)
    assert created
    await rig.services.locks.acquire(member, rig.sim_id, 120)  # an extension is not a new lock
    await rig.services.locks.release(member, rig.sim_id)
    second, _ = await rig.services.locks.acquire(member, rig.sim_id, 30)
    rig.clock.advance(31)
    assert await rig.services.locks.sweep() == 1

    bodies = await bodies_for(rig, always)
    assert [(b["event"], b["data"]["lock_id"]) for b in bodies] == [
        ("number.locked", lock.id),
        ("number.unlocked", lock.id),
        ("number.locked", second.id),
        ("number.unlocked", second.id),
    ]
    assert bodies[0]["data"] == {
        "hosted_sim_id": rig.sim_id, "lock_id": lock.id, "user_id": member.user_id, "user_name": "Owner",
        "expires_at": "2026-05-11T14:01:00Z",
    }  # fmt: skip
    assert bodies[1]["data"]["reason"] == "released" and bodies[1]["data"]["user_name"] == "Owner"
    assert bodies[3]["data"]["reason"] == "expired"
    assert len({b["event_id"] for b in bodies}) == 4
    # The holder is a member of the mapped team: the lock_required mapping hears about its lock too.
    assert await events_for(rig, gated) == [b["event"] for b in bodies]


async def test_a_lock_of_someone_outside_the_team_reaches_only_always_mappings(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    await rig.services.admin.create_user(
        "acme", email="outsider@acme.example", name="Outsider", password=PASSWORD, team=None
    )
    outsider = await principal_for_key(rig.services, "acme", "outsider@acme.example", ALL)
    await rig.services.locks.acquire(outsider, rig.sim_id)
    await rig.services.locks.release(outsider, rig.sim_id)
    assert await events_for(rig, always) == ["number.locked", "number.unlocked"]
    assert await events_for(rig, gated) == []


async def test_outbound_outcomes_are_written_with_the_status_change_and_internal_steps_are_not(
    rig: Rig,
) -> None:
    integration = await rig.integration("/hook")
    outbound = rig.services.outbound
    delivered = await outbound.queue(hosted_sim_id=rig.sim_id, recipient="+4915112345678", text="hello")
    claimed = await outbound.claim_next(rig.sim_id)
    assert claimed is not None and claimed.id == delivered.id
    await outbound.part_sent(delivered.id, rig.sim_id, sequence=1, total=1, message_reference=42)
    await outbound.mark_sent(delivered.id, rig.sim_id)
    assert await outbound.apply_status_report(rig.sim_id, 42, 0x00) == "delivered"

    failing = await outbound.queue(hosted_sim_id=rig.sim_id, recipient="+4915112345679", text="again")
    assert await outbound.claim_next(rig.sim_id) is not None
    await outbound.retry_later(failing.id, rig.sim_id, "+CMS ERROR: 500", 0)  # back to queued: silent
    assert await outbound.claim_next(rig.sim_id) is not None
    await outbound.fail(failing.id, rig.sim_id, "+CMS ERROR: 21 (short message transfer rejected)")

    bodies = await bodies_for(rig, integration)
    assert [(b["event"], b["data"]["message_id"], b["data"]["status"]) for b in bodies] == [
        ("message.delivery", delivered.id, "sent"),
        ("message.delivery", delivered.id, "delivered"),
        ("message.delivery", failing.id, "failed"),
    ]
    assert bodies[2]["data"] == {
        "message_id": failing.id, "hosted_sim_id": rig.sim_id, "to": "+4915112345679", "status": "failed",
        "error": "+CMS ERROR: 21 (short message transfer rejected)", "changed_at": "2026-05-11T14:00:00Z",
    }  # fmt: skip
