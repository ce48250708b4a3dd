"""Realtime feed benchmark: C WebSocket clients on one private channel, 20 events triggered 250 ms apart.

`python -m bench realtime [--workers N] [--profile FILE] [--record] [C ...]` (default 100 and 1000). The
server runs in its own process (bench/realtime/server.py) so its RSS is its own; clients are raw
Pusher-protocol sockets spread over N worker processes (bench/realtime/clients.py). Latency is trigger POST
sent → frame read by the client, on the host's monotonic clock. Prints a table; `--record` rewrites the
realtime section of bench/RESULTS.md. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import pstats
import socket
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
from bench.realtime.clients import WorkerReport, run_worker

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
    fanout_ms: list[float]  # server-side publish duration per event
    server_cpu_s: float  # during the event phase
    client_cpu_s: float  # all workers, during the event phase


def signed_path(body: bytes) -> str:
    params = {"auth_key": APP_KEY, "auth_timestamp": str(int(time.time())), "auth_version": "1.0",
              "body_md5": protocol.body_md5(body)}
    path = f"/apps/{APP_ID}/events"
    params["auth_signature"] = protocol.request_signature(APP_SECRET, "POST", path, params)
    return f"{path}?{urlencode(params)}"


async def trigger_ticks(base: str) -> tuple[dict[int, float], list[float]]:
    """Posts the ticks; returns when each was sent and the server's fan-out durations."""
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
            fanout_ms: list[float] = await response.json()
    return sent_at, fanout_ms


def start_workers(port: int, clients: int, workers: int) -> list[tuple[multiprocessing.Process, Connection]]:
    context = multiprocessing.get_context("spawn")
    started = []
    for n in range(workers):
        share = clients // workers + (1 if n < clients % workers else 0)
        ours, theirs = context.Pipe()
        credentials = (APP_KEY, APP_SECRET, CHANNEL)
        process = context.Process(target=run_worker, args=(port, share, credentials, theirs))
        process.start()
        started.append((process, ours))
    return started


def run(clients: int, workers: int, port: int, server_pid: int) -> Run:
    rss_before, _ = rss_kib(server_pid)
    pool = start_workers(port, clients, workers)
    try:
        connect_s = max(pipe.recv()[1] for _, pipe in pool)  # each says ("ready", its connect time)
        server_cpu_before = cpu_s(server_pid)
        sent_at, fanout_ms = asyncio.run(trigger_ticks(f"http://127.0.0.1:{port}"))
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
    last = [max((got[seq] - sent_at[seq]) * 1000 for got in seen if seq in got) for seq in range(EVENTS)
            if any(seq in got for got in seen)]
    return Run(clients, workers, connect_s, latencies, last, clients * EVENTS - len(latencies), rss_before,
               rss_after, rss_peak, fanout_ms, server_cpu, sum(r.cpu_s for r in reports))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def table(runs: list[Run]) -> str:
    lines = ["| C | client procs | connect all (s) | p50 (ms) | p99 (ms) | last client p50 / max (ms) | "
             "lost | server fan-out p50 / max (ms) | CPU s server / clients | "
             "server RSS before → after (MiB) | growth (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r.clients} | {r.workers} | {r.connect_s:.2f} | {statistics.median(r.latencies_ms):.1f} | "
            f"{percentile(r.latencies_ms, 0.99):.1f} | {statistics.median(r.last_client_ms):.1f} / "
            f"{max(r.last_client_ms):.1f} | {r.lost} | {statistics.median(r.fanout_ms):.1f} / "
            f"{max(r.fanout_ms):.1f} | {r.server_cpu_s:.2f} / {r.client_cpu_s:.2f} | "
            f"{r.rss_before_kib / 1024:.1f} → {r.rss_after_kib / 1024:.1f} | "
            f"{(r.rss_peak_kib - r.rss_before_kib) / 1024:.1f} |")
    return "\n".join(lines)


def write_results(text: str) -> None:
    """Replaces only the text between the realtime markers (other benchmarks own the rest of the file)."""
    section = (
        f"{START}\n## realtime\n\n`python -m bench realtime --record` on {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}: server process with the Pusher routes over a LocalHub; raw protocol-7 "
        f"WebSocket clients in worker processes on the same host, all on one private channel; "
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    parser.add_argument("--record", action="store_true", help="rewrite the realtime section of RESULTS.md")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    for clients in args.clients:  # a fresh server per size, so each RSS baseline is clean
        port = free_port()
        command = [sys.executable, "-m", "bench", "realtime", "serve", str(port)]
        server = subprocess.Popen(command + ([args.profile] if args.profile else []))
        try:
            asyncio.run(wait_for_server(f"http://127.0.0.1:{port}"))
            runs.append(run(clients, args.workers, port, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
        if args.profile:
            print_profile(args.profile)
    text = table(runs)
    print(text)
    if args.record:
        write_results(text)
    return 0
