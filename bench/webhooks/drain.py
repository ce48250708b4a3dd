"""The webhook sender alone: N `message.inbound` outbox rows written straight into the daemon's SQLite
file (no ingest, no modem), then timed until the receiver has them all. Separates delivery cost from
ingest cost in `python -m bench webhooks`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bench.webhooks.daemon import Api, Daemon, add_integration, deactivate_integration
from gatewayd.services.webhook_events import MESSAGE_INBOUND, envelope, new_event_id

# SQLAlchemy's text form of a DateTime on SQLite; UtcDateTime stores naive UTC (store/types.py).
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class Arrivals(Protocol):
    """The part of the benchmark's receiver the drain reads (bench.webhooks.Receiver fits)."""

    secrets: dict[str, str]
    arrivals: dict[tuple[str, int], float]
    changed: asyncio.Event


@dataclass(frozen=True)
class DrainOutcome:
    rows: int
    integrations: int
    received: int
    first_receipt_s: float  # rows committed → first POST received (includes the worker's safety check)
    deliveries_per_s: float  # first → last receipt
    p50_ms: float  # row committed → received
    p99_ms: float


async def arrivals_at(receiver: Arrivals, paths: list[str], expected: int,
                      timeout_s: float) -> dict[tuple[str, int], float]:
    """The receipts on `paths` once `expected` have come (or at the deadline), woken by each arrival."""

    def ours() -> dict[tuple[str, int], float]:
        return {key: at for key, at in receiver.arrivals.items() if key[0] in paths}

    deadline = time.time() + timeout_s
    while len(ours()) < expected and time.time() < deadline:
        receiver.changed.clear()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                await receiver.changed.wait()
        except TimeoutError:
            break
    return ours()


def prefill(daemon: Daemon, integration_id: int, first: int, count: int) -> float:
    """Write `count` due rows for the integration in one transaction; returns the commit's epoch time."""
    now = datetime.now(UTC)
    stamp = now.replace(tzinfo=None).strftime(SQLITE_TIME)
    rows = []
    for number in range(first, first + count):
        event_id = new_event_id()
        data = {"message_id": number, "hosted_sim_id": 1, "from": "+4915100000000", "to": None,
                "body": f"bench #{number} drain", "received_at": None}  # fmt: skip
        body = envelope(MESSAGE_INBOUND, event_id, now, data)
        rows.append((integration_id, MESSAGE_INBOUND, event_id, body, stamp, stamp, stamp))
    with sqlite3.connect(daemon.root / "simrelay.db", timeout=30) as connection:
        connection.executemany(
            "INSERT INTO webhook_deliveries (webhook_integration_id, event, event_id, body, status, "
            "attempt, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            rows,
        )
    return time.time()


async def drain(
    daemon: Daemon, api: Api, receiver: Arrivals, receiver_url: str, *,
    team_id: int, rows: int, integrations: int, first: int, timeout_s: float,
) -> DrainOutcome:  # fmt: skip
    paths = [f"/drain{first}-{n}" for n in range(integrations)]
    ids = []
    for path in paths:
        integration_id, secret = await add_integration(api, receiver_url + path, team_id)
        receiver.secrets[path] = secret
        ids.append(integration_id)
    committed = {
        integration_id: await asyncio.to_thread(prefill, daemon, integration_id, first, rows)
        for integration_id in ids
    }
    expected = rows * integrations

    arrivals = await arrivals_at(receiver, paths, expected, timeout_s)
    for integration_id in ids:
        await deactivate_integration(api, integration_id)
    by_path = dict(zip(paths, ids, strict=True))
    latencies = sorted((at - committed[by_path[path]]) * 1000 for (path, _), at in arrivals.items())
    times = sorted(arrivals.values())
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return DrainOutcome(
        rows, integrations, len(arrivals),
        times[0] - min(committed.values()) if times else float("nan"),
        (len(times) - 1) / span if len(times) > 1 else 0.0,
        _percentile(latencies, 0.50), _percentile(latencies, 0.99),
    )  # fmt: skip


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


DRAIN_HEADER = (
    "| drain: rows per integration | integrations | received | first receipt (s) | deliveries/s "
    "| row committed → received p50 / p99 (ms) |\n|---|---|---|---|---|---|"
)


def drain_row(outcome: DrainOutcome) -> str:
    return (
        f"| {outcome.rows} | {outcome.integrations} | {outcome.received} / "
        f"{outcome.rows * outcome.integrations} | {outcome.first_receipt_s:.2f} "
        f"| {outcome.deliveries_per_s:.0f} | {outcome.p50_ms:.0f} / {outcome.p99_ms:.0f} |"
    )
