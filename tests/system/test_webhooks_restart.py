"""Deliveries survive a SIGKILL of `simrelay serve`: deliveries waiting for their retry, deliveries in
flight to a receiver that never answered, and deliveries not yet claimed are all made after a restart,
each event answered exactly once, retries keeping their `event_id`."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import poll_until, simrelay
from tests.system.webhook_rig import Api, Receiver, delivery_rows, new_layout, team_with_every_sim

pytestmark = pytest.mark.system

MODEMS = 4
REFUSED = 12  # answered 503 before the kill: waiting for their retry at +60 s
HELD = 24  # POSTed to a receiver that hangs, or waiting behind them, when the kill comes
PER_DESTINATION = 4
TIMEOUT_S = 2
LEASE_MARGIN_S = 1.0


def a_minute_passes(db_file: Path) -> None:
    """The daemon stays down for the first retry delay (1 min, ENDPOINTS.md) without the test waiting
    for it: every scheduled attempt moves 61 s earlier, as the wall clock would have moved on."""
    with sqlite3.connect(db_file) as connection:
        connection.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = datetime(next_attempt_at, '-61 seconds') "
            "WHERE status = 'pending' AND attempt >= 1"
        )


def settled_refusals(db_file: Path, integration_id: int) -> int:
    """Rows whose first attempt was answered with an error and written back (no claim outstanding)."""
    with sqlite3.connect(db_file) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_integration_id = ? AND status = 'pending' "
            "AND attempt = 1 AND http_status IS NOT NULL AND claim_token IS NULL",
            (integration_id,),
        ).fetchone()
    return int(count)


async def test_pending_deliveries_are_made_once_after_sigkill_and_restart(tmp_path: Path) -> None:
    layout = new_layout(tmp_path, MODEMS, lease_margin_s=LEASE_MARGIN_S, per_destination=PER_DESTINATION)
    receiver = Receiver()
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with simrelay(layout.serve_args(), cwd=tmp_path) as daemon:
                api = Api(http, daemon.banner["base_url"], daemon.banner["admin_api_key"])
                team_id, _ = await team_with_every_sim(layout, api, "ops")
                integration = await api.integration(receiver, "/hook", team_id, timeout_s=TIMEOUT_S)
                control = daemon.banner["control_url"]

                async def inject(first: int, count: int) -> None:
                    for number in range(first, first + count):
                        body = {"from": f"+49151{number:08d}", "text": f"restart #{number}"}
                        async with http.post(f"{control}/modems/{number % MODEMS}/sms", json=body) as reply:
                            assert reply.status == 201, await reply.text()

                receiver.mode = "fail"
                await inject(0, REFUSED)

                async def refused_once() -> bool:
                    # Refused AND recorded: an attempt counts from its claim, so attempt == 1 alone may
                    # still be a POST on its way; the settled outcome (status code, claim released) is not.
                    settled = settled_refusals(layout.db_file, integration)
                    return receiver.refused == REFUSED and settled == REFUSED

                await poll_until(refused_once, timeout_s=30)
                receiver.mode = "hang"
                await inject(REFUSED, HELD)
                await receiver.wait_holding(PER_DESTINATION, timeout_s=30)

                async def all_queued() -> bool:
                    return len(delivery_rows(layout.db_file, integration)) == REFUSED + HELD

                await poll_until(all_queued, timeout_s=30)
                daemon.proc.send_signal(signal.SIGKILL)
                await daemon.proc.wait()

            before = {
                event_id: attempt for event_id, _, attempt in delivery_rows(layout.db_file, integration)
            }
            # The refused ones have had their first attempt; whether the held ones count theirs before an
            # answer depends on when the worker's claim committed relative to the kill, so it is not asserted.
            assert sum(1 for attempts in before.values() if attempts >= 1) >= REFUSED
            assert len(before) == REFUSED + HELD

            async def clients_gone() -> bool:
                return receiver.held_clients_gone()

            await poll_until(clients_gone, timeout_s=10, interval_s=0.01)
            receiver.release()  # the held requests' client is gone: they were never answered
            receiver.mode = "ok"
            a_minute_passes(layout.db_file)
            assert receiver.event_ids("/hook") == {}

            async with simrelay(layout.serve_args(), cwd=tmp_path):
                await receiver.wait_for("/hook", REFUSED + HELD, timeout_s=30)

                async def all_delivered() -> bool:
                    rows = delivery_rows(layout.db_file, integration)
                    return all(status == "delivered" for _, status, _ in rows)

                await poll_until(all_delivered, timeout_s=20)
        assert receiver.bad == []
        assert receiver.refused == REFUSED and receiver.holding == PER_DESTINATION
        answered = receiver.event_ids("/hook")
        assert set(answered) == set(before), "the events answered are not the events queued"
        assert set(answered.values()) == {1}, f"answered twice: {[k for k, v in answered.items() if v > 1]}"
        after = {event_id: attempt for event_id, _, attempt in delivery_rows(layout.db_file, integration)}
        refused_ids = [event_id for event_id, attempt in before.items() if attempt == 1]
        assert all(after[event_id] >= 2 for event_id in refused_ids)  # a retry, same event_id
        texts = sorted(a["body"]["data"]["body"] for a in receiver.answered)
        assert texts == sorted(f"restart #{n}" for n in range(REFUSED + HELD))
    finally:
        await receiver.close()
