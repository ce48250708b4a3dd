"""Forwarding rules of the webhook outbox: which integrations an inbound SMS reaches, written in the
same transaction as the message (`always`, `lock_required`, inactive integrations and mappings)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

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


async def test_always_forwards_whoever_holds_the_lock_and_lock_required_only_for_the_team(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    await rig.inbound(1, "unlocked")
    assert await events_for(rig, always) == ["message.inbound"]
    assert await events_for(rig, gated) == []

    await rig.services.admin.create_user(
        "acme", email="outsider@acme.example", name="Outsider", password=PASSWORD, team=None
    )
    outsider = await principal_for_key(rig.services, "acme", "outsider@acme.example", ALL)
    await rig.services.locks.acquire(outsider, rig.sim_id)
    await rig.inbound(1, "outsider-lock")
    assert await events_for(rig, gated) == []  # a lock, but not held by a member of the mapped team
    await rig.services.locks.release(outsider, rig.sim_id)

    member = await principal_for_key(rig.services, "acme", OWNER, ALL)
    await rig.services.locks.acquire(member, rig.sim_id)
    await rig.inbound(1, "member-lock")
    assert await events_for(rig, gated) == ["message.inbound"]
    assert await events_for(rig, always) == ["message.inbound"] * 3

    rig.clock.advance(24 * 3600)  # the lock expired (its row may still be there): counts as absent
    await rig.inbound(1, "expired-lock")
    assert await events_for(rig, gated) == ["message.inbound"]


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
