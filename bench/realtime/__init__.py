"""Realtime feed benchmark: C WebSocket clients on one private channel, 20 events triggered 250 ms apart.

`python -m bench realtime [C ...]` (default 100 and 1000). The server runs in its own process (only the
Pusher routes over a LocalHub) so its RSS is its own; clients are raw Pusher-protocol WebSockets (aiohttp)
in this process. Latency is trigger POST → frame read by the client, on one clock. Prints a table and
rewrites the realtime section of bench/RESULTS.md. Not a test: it asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from api.pusher import protocol
from api.pusher.hub import LocalHub
from api.pusher.routes import PusherServer, PusherSettings, add_routes

APP_ID, APP_KEY, APP_SECRET = "1", "bench-key", "bench-secret"
CHANNEL = "private-App.Models.User.1"
EVENTS, INTERVAL_S = 20, 0.25
RESULTS = Path(__file__).resolve().parent.parent / "RESULTS.md"
START, END = "<!-- realtime:start -->", "<!-- realtime:end -->"


def serve(port: int) -> None:
    """The server process: only the feed, like `simrelay serve` would host it."""
    app = web.Application()
    settings = PusherSettings(app_id=APP_ID, app_key=APP_KEY, app_secret=APP_SECRET, max_connections=20_000)
    add_routes(app, PusherServer(settings, LocalHub()))
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


@dataclass
class Run:
    clients: int
    connect_s: float
    latencies_ms: list[float]
    last_client_ms: list[float]
    lost: int
    rss_before_kib: int
    rss_after_kib: int
    rss_peak_kib: int


async def subscribed_client(session: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"{base}/app/{APP_KEY}?protocol=7&client=js&version=8.4.0")
    established = json.loads((await ws.receive()).data)
    socket_id = json.loads(established["data"])["socket_id"]
    auth = protocol.channel_auth(APP_KEY, APP_SECRET, socket_id, CHANNEL)
    await ws.send_str(json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL, "auth": auth}}))
    reply = json.loads((await ws.receive()).data)
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply
    return ws


async def reader(ws: aiohttp.ClientWebSocketResponse, seen: dict[int, float]) -> None:
    async for message in ws:
        frame = json.loads(message.data)
        if frame.get("event") == "bench.tick":
            seen[json.loads(frame["data"])["seq"]] = time.perf_counter()


def signed_path(body: bytes) -> str:
    params = {"auth_key": APP_KEY, "auth_timestamp": str(int(time.time())), "auth_version": "1.0",
              "body_md5": protocol.body_md5(body)}
    path = f"/apps/{APP_ID}/events"
    params["auth_signature"] = protocol.request_signature(APP_SECRET, "POST", path, params)
    return f"{path}?{urlencode(params)}"


async def run(clients: int, base: str, server_pid: int) -> Run:
    rss_before, _ = rss_kib(server_pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        gate = asyncio.Semaphore(200)  # bounded connect concurrency, as a fleet reconnecting would be

        async def one() -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await subscribed_client(session, base)

        sockets = await asyncio.gather(*(one() for _ in range(clients)))
        connect_s = time.perf_counter() - started
        seen: list[dict[int, float]] = [{} for _ in sockets]
        readers = [asyncio.create_task(reader(ws, seen[n])) for n, ws in enumerate(sockets)]
        sent_at: dict[int, float] = {}
        for seq in range(EVENTS):
            body = json.dumps({"name": "bench.tick", "channel": CHANNEL,
                               "data": json.dumps({"seq": seq, "text": "Your code is 123456"})}).encode()
            sent_at[seq] = time.perf_counter()
            async with session.post(base + signed_path(body), data=body) as response:
                assert response.status == 200, await response.text()
            await asyncio.sleep(INTERVAL_S)
        await asyncio.sleep(1.0)  # stragglers
        rss_after, rss_peak = rss_kib(server_pid)
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    latencies = [(got[seq] - sent_at[seq]) * 1000 for got in seen for seq in got]
    last = [max((got[seq] - sent_at[seq]) * 1000 for got in seen if seq in got) for seq in range(EVENTS)
            if any(seq in got for got in seen)]
    lost = clients * EVENTS - len(latencies)
    return Run(clients, connect_s, latencies, last, lost, rss_before, rss_after, rss_peak)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def table(runs: list[Run]) -> str:
    lines = ["| C | connect all (s) | p50 (ms) | p99 (ms) | last client p50 / max (ms) | lost | server RSS "
             "before → after (MiB) | growth (MiB) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r.clients} | {r.connect_s:.2f} | {statistics.median(r.latencies_ms):.1f} | "
            f"{percentile(r.latencies_ms, 0.99):.1f} | {statistics.median(r.last_client_ms):.1f} / "
            f"{max(r.last_client_ms):.1f} | {r.lost} | {r.rss_before_kib / 1024:.1f} → "
            f"{r.rss_after_kib / 1024:.1f} | {(r.rss_peak_kib - r.rss_before_kib) / 1024:.1f} |")
    return "\n".join(lines)


def write_results(text: str) -> None:
    section = (
        f"{START}\n## realtime\n\n`python -m bench realtime` on {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}: server process with the Pusher routes over a LocalHub; raw protocol-7 "
        f"WebSocket clients in a second process on the same host, all on one private channel; "
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


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(int(argv[1]))
        return 0
    sizes = [int(arg) for arg in argv] or [100, 1000]
    runs: list[Run] = []
    for clients in sizes:  # a fresh server per size, so each RSS baseline is clean
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "bench", "realtime", "serve", str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_for_server(base))
            runs.append(asyncio.run(run(clients, base, server.pid)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = table(runs)
    print(text)
    write_results(text)
    return 0
