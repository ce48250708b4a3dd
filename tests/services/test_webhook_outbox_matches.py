"""The webhook outbox looks up a SIM's matching integrations once per transaction (OutboxMatches) and the
answer is exactly the per-message rule's: `always`, `lock_required` with a member / an outsider / an
expired lock, another team, no team, inactive mappings; and ingest's group commit writes the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from gatewayd.modem.inbox import ReceivedSms
from gatewayd.services.webhook_events import OutboxMatches, _matching_integrations
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models_webhooks import WebhookDelivery
from tests.delivery.conftest import START, Rig, make_rig
from tests.services.world import ALL, PASSWORD, physical_sim, principal_for_key


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as made:
        yield made


@contextmanager
def route_queries(rig: Rig, kind: str = "SELECT", table: str = "webhook_mappings") -> Iterator[list[str]]:
    """The SQL statements of `kind` that name `table` while the block runs (default: route reads)."""
    engine = rig.sessions.kw["bind"].sync_engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(kind) and table in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def sims_in_every_situation(rig: Rig) -> dict[str, int]:
    """SIMs whose events reach different integrations; the rig's team `ops` is the mapped one."""
    admin = rig.services.admin
    sims = {"member_lock": rig.sim_id}
    for n, name in enumerate(("unlocked", "outsider_lock", "expired_lock", "other_team", "no_team"), 2):
        sims[name] = await physical_sim(rig.services, f"86000000000000{n}", f"894400000000000000{n}")
    for name in ("unlocked", "outsider_lock", "expired_lock"):
        await admin.assign_sims(org="acme", team="ops", sim_id=sims[name])
    await admin.create_team("acme", "other")
    await admin.assign_sims(org="acme", team="other", sim_id=sims["other_team"])
    await admin.assign_sims(org="acme", team=None, sim_id=sims["no_team"])
    await admin.create_user("acme", email="outsider@acme.example", name="O", password=PASSWORD, team=None)
    outsider = await principal_for_key(rig.services, "acme", "outsider@acme.example", ALL)
    await rig.services.locks.acquire(rig.key, sims["expired_lock"], 30)
    rig.clock.advance(31)  # that lock's row stays until a sweep, but counts as absent
    await rig.services.locks.acquire(rig.key, sims["member_lock"], 3600)
    await rig.services.locks.acquire(outsider, sims["outsider_lock"], 3600)
    return sims


async def test_one_query_gives_every_sim_the_per_message_answer(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    switched_off = await rig.integration("/off", mode="always")
    (mapping,), _ = await rig.services.webhooks.list_mappings(rig.key, switched_off)
    await rig.services.webhooks.update_mapping(
        rig.key, switched_off, mapping.id, forwarding_mode=None, is_active=False
    )
    sims = await sims_in_every_situation(rig)
    now = rig.clock.now()
    async with read_transaction(rig.sessions) as session:
        one_by_one = {n: await _matching_integrations(session, sim, now, None) for n, sim in sims.items()}
        matches = OutboxMatches(sims.values())
        with route_queries(rig) as queries:
            cached = {name: await matches.for_message(session, sim, now) for name, sim in sims.items()}
            again = await matches.for_message(session, sims["member_lock"], now)
    assert cached == one_by_one
    assert one_by_one == {
        "member_lock": [always, gated], "unlocked": [always], "outsider_lock": [always],
        "expired_lock": [always], "other_team": [], "no_team": [],
    }  # fmt: skip
    assert again == [always, gated]
    assert len(queries) == 1  # every expected SIM in one statement, then served from the cache


async def test_a_sim_not_expected_is_looked_up_on_its_own_and_a_new_moment_looks_again(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    sims = await sims_in_every_situation(rig)
    now = rig.clock.now()
    async with read_transaction(rig.sessions) as session:
        matches = OutboxMatches([sims["unlocked"]])
        with route_queries(rig) as queries:
            assert await matches.for_message(session, sims["member_lock"], now) == [always, gated]
            assert await matches.for_message(session, sims["unlocked"], now) == [always]
            # Past the member's lock (3600 s): the same transaction asked about a later moment.
            later = now + timedelta(hours=2)
            assert await matches.for_message(session, sims["member_lock"], later) == [always]
    assert len(queries) == 2


def sms(key: str) -> list[ReceivedSms]:
    return [ReceivedSms(identity_key=key, sender="+4915100000001", text=key, data=None, encoding="gsm7",
                        received_at=START, concat=None)]  # fmt: skip


async def test_a_group_commit_over_many_sims_writes_exactly_the_matching_deliveries(rig: Rig) -> None:
    always = await rig.integration("/always", mode="always")
    gated = await rig.integration("/gated", mode="lock_required")
    sims = await sims_in_every_situation(rig)
    gateway = rig.services.gateway
    with route_queries(rig) as queries, route_queries(rig, "INSERT", "webhook_deliveries") as inserts:
        # Hold the writer turn: the first batch waits for it alone, the other five queue up behind it
        # and are committed together as ONE group in the next transaction.
        async with asyncio.timeout(10):
            async with write_transaction(rig.sessions):
                stored = [asyncio.create_task(gateway.store_received(sim, sms(n))) for n, sim in sims.items()]
                while len(gateway._receive_queue) < len(sims) - 1:  # noqa: SLF001, ASYNC110 - no event for it
                    await asyncio.sleep(0)
            await asyncio.gather(*stored)
    assert len(queries) == 2  # one per transaction, not one per message
    assert len(inserts) == 2  # the delivery rows too
    async with read_transaction(rig.sessions) as session:
        rows = await session.execute(
            select(
                WebhookDelivery.webhook_integration_id, func.json_extract(WebhookDelivery.body, "$.data.body")
            ).where(WebhookDelivery.event == "message.inbound")
        )
        got = sorted((integration, text) for integration, text in rows)
    expected = [(always, name) for name in ("member_lock", "unlocked", "outsider_lock", "expired_lock")]
    assert got == sorted([*expected, (gated, "member_lock")])
