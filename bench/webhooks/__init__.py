"""`python -m bench webhooks`: SMS injected into the emulated bank of a real `simrelay serve --simulate 8`
→ signed `message.inbound` POSTs received by a local aiohttp receiver. Prints latency (injection →
receipt) p50/p99 and deliveries/s per scenario; `--record` rewrites the webhooks section of
bench/RESULTS.md. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.webhooks.daemon import (
    Api,
    Daemon,
    add_integration,
    deactivate_integration,
    free_port,
    running_daemon,
    stored_at,
    team_with_every_sim,
)
from bench.webhooks.drain import DRAIN_HEADER, DrainOutcome, arrivals_at, drain, drain_row

RESULTS = Path(__file__).resolve().parent.parent / "RESULTS.md"
FINDINGS = Path(__file__).resolve().parent / "findings.md"  # before/after and profile, kept by hand
START, END = "<!-- webhooks:start -->", "<!-- webhooks:end -->"
MODEMS = 8
DRAIN_TIMEOUT_S = 60.0


@dataclass
class Receiver:
    """Answers 200 at once after checking the signature; notes when each (path, SMS number) arrived."""

    secrets: dict[str, str] = field(default_factory=dict)
    arrivals: dict[tuple[str, int], float] = field(default_factory=dict)
    duplicates: int = 0
    bad_signatures: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        now = time.time()
        secret = self.secrets.get(request.path, "")
        if (
            request.headers.get("X-Simrelay-Signature")
            != hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        ):
            self.bad_signatures += 1
        text = json.loads(raw)["data"]["body"]
        key = (request.path, int(text.split("#", 1)[1].split()[0]))
        if key in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[key] = now
        self.changed.set()
        return web.Response(text="ok")


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float  # SMS injected per second
    seconds: float
    integrations: int


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    injected: int
    expected: int
    received: int
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    engine_p50_ms: float  # outbox row written (the SMS's commit) → received: the webhook engine's share
    engine_p99_ms: float
    duplicates: int
    bad_signatures: int


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def inject_at_rate(
    http: aiohttp.ClientSession, daemon: Daemon, scenario: Scenario, first: int
) -> dict[int, float]:
    """POST one SMS every 1/rate s to the modems in turn; {SMS number: time its POST was issued}."""
    injected: dict[int, float] = {}
    tasks: set[asyncio.Task[None]] = set()
    count = int(scenario.rate * scenario.seconds)
    started = time.time()

    async def one(number: int) -> None:
        body = {"from": f"+49151{number:08d}", "text": f"bench #{number} {scenario.name}"}
        injected[number] = time.time()
        async with http.post(f"{daemon.control_url}/modems/{number % MODEMS}/sms", json=body) as reply:
            if reply.status != 201:
                raise RuntimeError(f"inject #{number}: {reply.status} {await reply.text()}")

    for index in range(count):
        # Open-loop pacing: the schedule does not slow down when the daemon does.
        await asyncio.sleep(max(0.0, started + index / scenario.rate - time.time()))
        task = asyncio.create_task(one(first + index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return injected


async def run_scenario(
    http: aiohttp.ClientSession, daemon: Daemon, api: Api, receiver: Receiver, receiver_url: str,
    *, team_id: int, scenario: Scenario, first: int,
) -> Outcome:  # fmt: skip
    ids = []
    paths = [f"/{scenario.name}-{n}" for n in range(scenario.integrations)]
    for path in paths:
        integration_id, secret = await add_integration(api, receiver_url + path, team_id)
        receiver.secrets[path] = secret
        ids.append(integration_id)
    injected = await inject_at_rate(http, daemon, scenario, first)
    expected = len(injected) * len(paths)

    arrivals = await arrivals_at(receiver, paths, expected, DRAIN_TIMEOUT_S)
    for integration_id in ids:  # later scenarios do not deliver to these receivers too
        await deactivate_integration(api, integration_id)
    latencies = [(at - injected[number]) * 1000 for (_, number), at in arrivals.items()]
    stored = stored_at(daemon, ids)
    by_path = dict(zip(paths, ids, strict=True))
    engine = [(at - stored[(by_path[path], number)]) * 1000 for (path, number), at in arrivals.items()]
    span = max(arrivals.values()) - min(injected.values()) if arrivals else float("nan")
    return Outcome(
        scenario, len(injected), expected, len(arrivals), len(arrivals) / span if arrivals else 0.0,
        percentile(latencies, 0.50), percentile(latencies, 0.99), max(latencies, default=float("nan")),
        percentile(engine, 0.50), percentile(engine, 0.99), receiver.duplicates, receiver.bad_signatures,
    )  # fmt: skip


@dataclass(frozen=True)
class Drain:
    rows: int
    integrations: tuple[int, ...]  # one drain per entry, with that many integrations


async def measure(
    scenarios: list[Scenario], drains: Drain, max_in_flight: int, keep: Path | None
) -> tuple[list[Outcome], list[DrainOutcome]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    outcomes: list[Outcome] = []
    drained: list[DrainOutcome] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as scratch:
            root = keep or Path(scratch)
            root.mkdir(parents=True, exist_ok=True)
            connector = aiohttp.TCPConnector(limit=64)
            async with (
                running_daemon(root, MODEMS, max_in_flight=max_in_flight) as daemon,
                aiohttp.ClientSession(connector=connector) as http,
            ):
                api = Api(http, daemon)
                team_id = await team_with_every_sim(daemon, api, "bench")
                first = 0
                for scenario in scenarios:
                    outcome = await run_scenario(
                        http,
                        daemon,
                        api,
                        receiver,
                        f"http://127.0.0.1:{port}",
                        team_id=team_id,
                        scenario=scenario,
                        first=first,
                    )
                    outcomes.append(outcome)
                    print(row(outcome), flush=True)
                    first += outcome.injected
                if drains.rows:
                    print(DRAIN_HEADER, flush=True)
                for integrations in drains.integrations if drains.rows else ():
                    done = await drain(
                        daemon, api, receiver, f"http://127.0.0.1:{port}", team_id=team_id,
                        rows=drains.rows, integrations=integrations, first=first,
                        timeout_s=DRAIN_TIMEOUT_S,
                    )  # fmt: skip
                    drained.append(done)
                    print(drain_row(done), flush=True)
                    first += drains.rows
    finally:
        await runner.cleanup()
    return outcomes, drained


HEADER = (
    "| scenario | SMS/s offered | integrations | SMS | deliveries expected / received | deliveries/s "
    "| p50 (ms) | p99 (ms) | max (ms) | stored → received p50 / p99 (ms) | duplicates | bad signatures |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(outcome: Outcome) -> str:
    s = outcome.scenario
    return (
        f"| {s.name} | {s.rate:g} | {s.integrations} | {outcome.injected} | {outcome.expected} / "
        f"{outcome.received} | {outcome.deliveries_per_s:.0f} | {outcome.p50_ms:.1f} | {outcome.p99_ms:.1f} "
        f"| {outcome.max_ms:.1f} | {outcome.engine_p50_ms:.1f} / {outcome.engine_p99_ms:.1f} "
        f"| {outcome.duplicates} | {outcome.bad_signatures} |"
    )


def write_results(table: str, seconds: float, load: str) -> None:
    """Replaces only the text between the webhooks markers (other benchmarks own the rest of the file)."""
    findings = "\n" + FINDINGS.read_text() if FINDINGS.exists() else ""
    section = (
        f"{START}\n## webhooks\n\n`python -m bench webhooks --record` on {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, load average {load} (1/5/15 min; a shared machine), "
        f"SQLite file: one `simrelay serve --simulate {MODEMS}` process (the emulated bank runs inside it); "
        "SMS injected through the bank's control API, open loop, to the modems in turn for "
        f"{seconds:g} s per scenario; a local aiohttp receiver checks each signature and answers 200. "
        "Latency = injection POST issued → webhook received; 'stored → received' starts at the outbox "
        "row's timestamp (the SMS's ingest transaction): the webhook engine's own share. Targets: p99 ≤ "
        "200 ms at 200 SMS/s; ≥ 500 deliveries/s sustained to a fast receiver. 'drain' rows are written "
        "straight into the outbox (no ingest): the sender alone, woken by its safety check (1 s).\n\n"
        f"{table}\n{findings}{END}"
    )
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in current and END in current:
        before, rest = current.split(START, 1)
        current = before + section + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks")
    parser.add_argument("--seconds", type=float, default=10.0, help="injection time per scenario")
    parser.add_argument("--rate", type=float, default=200.0, help="SMS injected per second")
    parser.add_argument("--fanout", type=int, default=3, help="integrations in the throughput scenario")
    parser.add_argument("--low-rate", type=float, default=50.0, help="SMS/s of the unloaded-ingest run")
    parser.add_argument("--drain", type=int, default=3000, help="rows per integration per drain; 0: none")
    parser.add_argument("--max-in-flight", type=int, default=64, help="[webhooks] max_in_flight")
    parser.add_argument(
        "--keep", type=Path, help="run the daemon in this directory and keep it (database, log)"
    )
    parser.add_argument("--record", action="store_true", help="rewrite the webhooks section of RESULTS.md")
    args = parser.parse_args(argv)
    scenarios = [
        Scenario("latency-low", args.low_rate, args.seconds, 1),
        Scenario("latency", args.rate, args.seconds, 1),
        Scenario("throughput", args.rate, args.seconds, args.fanout),
    ]
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    print(HEADER, flush=True)
    drains = Drain(args.drain, (1, args.fanout))
    outcomes, drained = asyncio.run(measure(scenarios, drains, args.max_in_flight, args.keep))
    table = HEADER + "\n" + "\n".join(row(outcome) for outcome in outcomes)
    if drained:
        table += "\n\n" + DRAIN_HEADER + "\n" + "\n".join(drain_row(done) for done in drained)
    print(f"load average at the end: {'/'.join(f'{value:.1f}' for value in os.getloadavg())}")
    if args.record:
        write_results(table, args.seconds, f"{load} at the start")
    return 0
