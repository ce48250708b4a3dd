"""Two webhook workers on one PostgreSQL, each with its own engine (as two API processes would be), share
1,000 due deliveries: `FOR UPDATE SKIP LOCKED` gives each row to one of them, so a healthy receiver gets
every event exactly once, and both workers did part of the work."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

from gatewayd.delivery.webhook_sender import SenderSettings, WebhookPoster, WebhookSender
from gatewayd.store.engine import create_engine, session_factory
from tests.delivery.conftest import make_rig

DELIVERIES = 1000


async def test_two_workers_deliver_a_thousand_events_exactly_once(pg_url: str, tmp_path: Path) -> None:
    async with make_rig(tmp_path, pg_url) as rig:
        await rig.integration(retry_count=0)
        await rig.inbound(DELIVERIES)
        other_engine = create_engine(pg_url)  # the second "process": its own pool and transactions
        poster = WebhookPoster(rig.options.policy)
        poster.open()
        second = WebhookSender(session_factory(other_engine), rig.clock, poster,
                               rig.services.webhooks.secret_box.open,
                               SenderSettings(max_per_destination=8, safety_check_s=0.05))  # fmt: skip
        first = rig.sender(max_per_destination=8, safety_check_s=0.05)
        workers = [asyncio.create_task(worker.run()) for worker in (first, second)]
        try:
            await rig.receiver.wait_for(DELIVERIES, timeout_s=90)
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await poster.close()
            await other_engine.dispose()
        event_ids = Counter(r["body"]["event_id"] for r in rig.receiver.received)
        assert len(event_ids) == DELIVERIES and set(event_ids.values()) == {1}
        assert first.attempts_made + second.attempts_made == DELIVERIES
        assert first.attempts_made > 0 and second.attempts_made > 0
