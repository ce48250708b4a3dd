"""Realtime feed benchmark: C WebSocket clients on one private channel, 20 events triggered 250 ms apart.

`python -m bench realtime [C ...] [--workers N] [--deflate] [--repeat R] [--profile FILE] [--record]` (see
`--help`; C defaults to 100 and 1000). The server runs in its own process (bench/realtime/server.py) so its
RSS is its own; clients are raw Pusher-protocol sockets spread over N worker processes
(bench/realtime/clients.py). Latency is trigger POST sent → frame read by the client, on the host's
monotonic clock. Prints a table; `--record` rewrites the realtime section of bench/RESULTS.md. Not a test:
it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from api.pusher import protocol
from bench.processes import free_port
from bench.realtime.clients import WorkerReport, WorkerSetup, run_worker

APP_ID, APP_KEY, APP_SECRET = "1", "bench-key", "bench-secret"
CHANNEL = "private-App.Models.User.1"
EVENTS, INTERVAL_S = 20, 0.25
RESULTS = Path(__file__).resolve().parent.parent / "RESULTS.md"
START, END = "<!-- realtime:start -->", "<!-- realtime:end -->"


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    clients: int
    workers: int
    connect_s: float
    latencies_ms: list[float]
    last_client_ms: list[float]
    lost: int
    rss_before_kib: int
    rss_after_kib: int
    rss_peak_kib: int
    # Per event, where the time to the last client went: trigger POST sent → publish starts (HTTP, signature,
    # parsing), publish (the fan-out), publish ends → the last client has read the frame.
    to_publish_ms: list[float]
    fanout_ms: list[float]
    fanout_cpu_ms: list[float]  # of fanout_ms, the time the server was on a CPU (the rest it was preempted)
    to_last_client_ms: list[float]
    server_cpu_s: float  # during the event phase
    client_cpu_s: float  # all workers, during the event phase


def signed_path(body: bytes) -> str:
    params = {"auth_key": APP_KEY, "auth_timestamp": str(int(time.time())), "auth_version": "1.0",
              "body_md5": protocol.body_md5(body)}
    path = f"/apps/{APP_ID}/events"
    params["auth_signature"] = protocol.request_signature(APP_SECRET, "POST", path, params)
    return f"{path}?{urlencode(params)}"


async def trigger_ticks(base: str) -> tuple[dict[int, float], list[tuple[float, float, float]]]:
    """Posts the ticks; returns when each was sent and the server's (start, end, CPU s) of each fan-out."""
    sent_at: dict[int, float] = {}
    async with aiohttp.ClientSession() as session:
        for seq in range(EVENTS):
            body = json.dumps({"name": "bench.tick", "channel": CHANNEL,
                               "data": json.dumps({"seq": seq, "text": "Your code is 123456"})}).encode()
            sent_at[seq] = time.perf_counter()
            async with session.post(base + signed_path(body), data=body) as response:
                assert response.status == 200, await response.text()
            await asyncio.sleep(INTERVAL_S)
        await asyncio.sleep(1.0)  # stragglers
        async with session.get(f"{base}/bench/fanout") as response:
            spans: list[tuple[float, float, float]] = await response.json()
    return sent_at, spans


@dataclass(frozen=True)
class ClientPlan:
    workers: int
    offer_deflate: bool
    cpus: frozenset[int] | None
    nice: int


def start_workers(
    port: int, clients: int, plan: ClientPlan
) -> list[tuple[multiprocessing.Process, Connection]]:
    context = multiprocessing.get_context("spawn")
    started = []
    for n in range(plan.workers):
        share = clients // plan.workers + (1 if n < clients % plan.workers else 0)
        ours, theirs = context.Pipe()
        setup = WorkerSetup(port, share, APP_KEY, APP_SECRET, CHANNEL, plan.offer_deflate, plan.cpus,
                            plan.nice)
        process = context.Process(target=run_worker, args=(setup, theirs))
        process.start()
        started.append((process, ours))
    return started


def run(clients: int, plan: ClientPlan, port: int, server_pid: int) -> Run:
    rss_before, _ = rss_kib(server_pid)
    pool = start_workers(port, clients, plan)
    try:
        connect_s = max(pipe.recv()[1] for _, pipe in pool)  # each says ("ready", its connect time)
        server_cpu_before = cpu_s(server_pid)
        sent_at, spans = asyncio.run(trigger_ticks(f"http://127.0.0.1:{port}"))
        server_cpu = cpu_s(server_pid) - server_cpu_before
        rss_after, rss_peak = rss_kib(server_pid)
        for _, pipe in pool:
            pipe.send("stop")
        reports: list[WorkerReport] = [pipe.recv() for _, pipe in pool]
    finally:
        for process, _ in pool:
            process.join(timeout=30)
    seen = [got for report in reports for got in report.seen]
    latencies = [(got[seq] - sent_at[seq]) * 1000 for got in seen for seq in got]
    last_at = {seq: max(got[seq] for got in seen if seq in got) for seq in range(EVENTS)
               if any(seq in got for got in seen)}
    last = [(at - sent_at[seq]) * 1000 for seq, at in last_at.items()]
    to_publish = [(start - sent_at[seq]) * 1000 for seq, (start, _, _) in enumerate(spans)]
    fanout = [(end - start) * 1000 for start, end, _ in spans]
    fanout_cpu = [cpu * 1000 for _, _, cpu in spans]
    to_last = [(last_at[seq] - end) * 1000 for seq, (_, end, _) in enumerate(spans) if seq in last_at]
    return Run(clients, plan.workers, connect_s, latencies, last, clients * EVENTS - len(latencies),
               rss_before, rss_after, rss_peak, to_publish, fanout, fanout_cpu, to_last, server_cpu,
               sum(r.cpu_s for r in reports))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def table(runs: list[Run]) -> str:
    lines = ["| C | client procs | connect all (s) | p50 (ms) | p99 (ms) | last client p50 / max (ms) | "
             "lost | to last client, p50: trigger → publish → fan-out (on CPU) → read (ms) | "
             "CPU s server / clients | server RSS before → after (MiB) | growth (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r.clients} | {r.workers} | {r.connect_s:.2f} | {statistics.median(r.latencies_ms):.1f} | "
            f"{percentile(r.latencies_ms, 0.99):.1f} | {statistics.median(r.last_client_ms):.1f} / "
            f"{max(r.last_client_ms):.1f} | {r.lost} | {statistics.median(r.to_publish_ms):.1f} + "
            f"{statistics.median(r.fanout_ms):.1f} ({statistics.median(r.fanout_cpu_ms):.1f}) + "
            f"{statistics.median(r.to_last_client_ms):.1f} | "
            f"{r.server_cpu_s:.2f} / {r.client_cpu_s:.2f} | "
            f"{r.rss_before_kib / 1024:.1f} → {r.rss_after_kib / 1024:.1f} | "
            f"{(r.rss_peak_kib - r.rss_before_kib) / 1024:.1f} |")
    summaries = []
    for size in sorted({r.clients for r in runs}):
        p99s = sorted(percentile(r.latencies_ms, 0.99) for r in runs if r.clients == size)
        if len(p99s) > 1:
            summaries.append(f"- C={size} over {len(p99s)} runs: p99 median {statistics.median(p99s):.1f} ms "
                             f"(best {p99s[0]:.1f}, worst {p99s[-1]:.1f}).")
    return "\n".join(lines + ([""] + summaries if summaries else []))


def write_results(text: str, argv: list[str]) -> None:
    """Replaces only the text between the realtime markers (other benchmarks own the rest of the file)."""
    section = (
        f"{START}\n## realtime\n\n`python -m bench realtime {' '.join(argv)}` on {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}: server process with the Pusher routes over a LocalHub; raw "
        f"protocol-7 WebSocket clients in worker processes on the same host, all on one private channel; "
        f"{EVENTS} events via the signed HTTP trigger API, {int(INTERVAL_S * 1000)} ms apart. "
        f"Latency = trigger POST sent → frame read by the client. "
        f"Targets at C=1000: p99 ≤ 60 ms, nothing lost, RSS growth ≤ 100 MB.\n\n"
        f"{text}\n{END}"
    )
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in current and END in current:
        before, rest = current.split(START, 1)
        current = before + section + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current)


async def wait_for_server(base: str) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            try:
                async with session.get(f"{base}/ready-probe"):  # any answer (404) means it listens
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)


def print_profile(path: str) -> None:
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(15)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        from bench.realtime.server import serve

        serve(int(argv[1]), (APP_ID, APP_KEY, APP_SECRET), argv[2] if len(argv) > 2 else None)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench realtime")
    parser.add_argument("clients", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--profile", help="run the server under cProfile, dump its stats to this file")
    parser.add_argument("--pin", action="store_true",
                        help="server on CPU 0, client processes on the other CPUs (no wake-up preemption)")
    parser.add_argument("--deflate", action="store_true",
                        help="clients offer permessage-deflate, as browsers and Node's ws do")
    parser.add_argument("--client-nice", type=int, default=0, help="niceness added to the client processes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (the host may be shared)")
    parser.add_argument("--record", action="store_true", help="rewrite the realtime section of RESULTS.md")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    for clients in [size for size in args.clients for _ in range(args.repeat)]:  # a fresh server per run
        port = free_port()
        command = [sys.executable, "-m", "bench", "realtime", "serve", str(port)]
        server = subprocess.Popen(command + ([args.profile] if args.profile else []))
        plan = ClientPlan(args.workers, args.deflate,
                          frozenset(range(1, os.cpu_count() or 2)) if args.pin else None, args.client_nice)
        if args.pin:
            os.sched_setaffinity(server.pid, {0})
        try:
            asyncio.run(wait_for_server(f"http://127.0.0.1:{port}"))
            runs.append(run(clients, plan, port, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
        if args.profile:
            print_profile(args.profile)
    text = table(runs)
    print(text)
    if args.record:
        write_results(text, argv)
    return 0
