"""`python -m bench api`: a page of 50 messages from a SIM holding 100,000, and lock/unlock cycles, at 32
concurrent connections, beside a bare aiohttp handler serving the same JSON from memory (same run).

Server processes are separate from the load generator; prints a table and rewrites the api section of
bench/RESULTS.md. Not a test: it asserts nothing. Targets: >= 50 % of the bare throughput, p99 <= 25 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import insert
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from api.settings import ApiSettings
from bench.processes import free_port
from gatewayd.clock import SystemClock
from gatewayd.events import LocalEventBus
from gatewayd.services.container import build_services
from gatewayd.store.engine import create_engine, session_factory, write_transaction
from gatewayd.store.migrate import upgrade
from gatewayd.store.models import Message

RESULTS = Path(__file__).resolve().parent.parent / "RESULTS.md"
MESSAGES = 100_000
CONNECTIONS = 32
DURATION_S = 5.0


async def seed(url: str) -> tuple[int, str]:
    await upgrade(url)
    engine = create_engine(url)
    services = build_services(session_factory(engine), SystemClock())
    admin = services.admin
    await admin.create_organization("bench")
    await admin.create_user("bench", email="bench@bench.example", name="bench", password=None, team=None)
    modem = await services.gateway.modem_seen(imei="860000000000009", port="/dev/null", usb_path=None,
                                              manufacturer="x", model="y", revision=None)
    sim = await services.gateway.sim_seen(modem_id=modem, iccid="8949000000000000009", imsi=None,
                                          phone_number="+4915112345009", operator="x")
    await admin.assign_sims(org="bench", team=None, sim_id=sim)
    _, key = await admin.create_api_key(org="bench", user_email="bench@bench.example", name="bench",
                                        permissions=["numbers.read", "numbers.lock", "messages.read"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"hosted_sim_id": sim, "direction": "inbound", "sender": "+4915100000001",
             "recipient": "+4915112345009", "text": f"message {n}", "encoding": "gsm7", "status": "received",
             "segments": 1, "received_at": start + timedelta(seconds=n), "created_at": start,
             "identity_key": f"bench-{n}"} for n in range(MESSAGES)]
    async with write_transaction(session_factory(engine)) as session:
        await session.execute(insert(Message), rows)
    if engine.dialect.name == "postgresql":  # planner statistics, as autovacuum would gather them
        async with engine.connect() as connection:
            await connection.execute(sql_text("ANALYZE"))
            await connection.commit()
    await engine.dispose()
    return sim, key


def serve_api(url: str, port: int, page_cache_ttl_s: float) -> None:
    async def main() -> None:
        engine = create_engine(url)
        bus = LocalEventBus()
        services = build_services(session_factory(engine), SystemClock(), bus=bus,
                                  page_cache_ttl_s=page_cache_ttl_s)
        # As the runtime's API role does: the message-page cache follows the bus the services publish on.
        follower = asyncio.create_task(services.messages.follow_changes(bus))
        app = create_app(services, ApiSettings(rate_limit_per_minute=10_000_000))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()
        follower.cancel()

    asyncio.run(main())


def serve_bare(body: bytes, port: int) -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@dataclass(frozen=True)
class Run:
    name: str
    requests: int
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


async def load(name: str, base: str, key: str, requests_of: list[tuple[str, str]]) -> Run:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + DURATION_S
    headers = {"Authorization": f"Bearer {key}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        step = 0
        while time.perf_counter() < deadline:
            method, path = requests_of[step % len(requests_of)]
            step += 1
            began = time.perf_counter()
            async with session.request(method, base + path, headers=headers) as reply:
                await reply.read()
                errors += reply.status >= 400
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Run(name, len(latencies), len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000,
               latencies[int(len(latencies) * 0.99)] * 1000, errors)


async def wait_up(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(base + "/api/health"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not come up")


async def measure(url: str, sim: int, key: str, body: bytes) -> list[Run]:
    api_port, uncached_port, bare_port = free_port(), free_port(), free_port()
    context = multiprocessing.get_context("spawn")
    servers = [context.Process(target=serve_api, args=(url, api_port, 5.0), daemon=True),
               context.Process(target=serve_api, args=(url, uncached_port, 0.0), daemon=True),
               context.Process(target=serve_bare, args=(body, bare_port), daemon=True)]
    for server in servers:
        server.start()
    try:
        api, uncached = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{uncached_port}"
        bare = f"http://127.0.0.1:{bare_port}"
        for base in (api, uncached, bare):
            await wait_up(base)
        page = [("GET", f"/api/sims/{sim}/messages?per_page=50&page=7")]
        cycle = [("POST", f"/api/sims/{sim}/lock"), ("DELETE", f"/api/sims/{sim}/lock")]
        return [await load("bare handler, same JSON", bare, key, page),
                await load("page of 50 of 100,000", api, key, page),
                await load("same page, page cache off (every read from the store)", uncached, key, page),
                await load("lock/unlock (1 SIM, 1 key)", api, key, cycle)]
    finally:
        for server in servers:
            server.terminate()
            server.join(5)


def table(runs: list[Run]) -> str:
    bare = runs[0].per_s
    lines = ["| scenario | requests | req/s | vs bare | p50 (ms) | p99 (ms) | errors |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.name} | {r.requests} | {r.per_s:.0f} | {100 * r.per_s / bare:.0f} % | {r.p50_ms:.1f} | "
              f"{r.p99_ms:.1f} | {r.errors} |" for r in runs]
    return "\n".join(lines)


# Where the time went (py-spy on the server under this load, 2026-11-29) and what was changed; kept here so a
# rerun keeps the explanation next to its figures.
NOTES = """Session 2 (2026-11-29): a page read again is served from memory until the SIM's next event
(gatewayd/services/page_cache.py, api/rendered_pages.py; docs/architecture.md, decisions): **page target met**
(above). The "page cache off" row is what every first read of a page still costs, and what lock/unlock cost:
~3.5-5 ms of event-loop CPU per request through SQLAlchemy async (py-spy, GIL-holding samples of the server:
Session.execute and ORM result handling ~36 %, building the statements ~10 %, aiosqlite trips the rest of
the store's share). Each SQLite statement now takes one trip to aiosqlite's thread instead of four
(store/sqlite_one_hop.py): lock/unlock 148 -> 185 req/s, page uncached 158 -> 169 req/s.

**Lock/unlock target missed.** Every request is a durable, exclusive write on one SIM, serialised (SQLite's
writer lock; on PostgreSQL the SIM's row lock, which also ended 409s "changed hands" under this load): the
disk is not what bounds it (synchronous=OFF gave the same 150 req/s; a bare sqlite3 loop here commits 4,176
durable transactions/s), the ORM path of ~6 statements is. >= 50 % of the bare handler means <= ~0.15 ms of
CPU per lock request, which only a lock path without the ORM could reach (raw SQL on a dedicated SQLite
writer thread with group commit): a second data-access path beside the store's, not taken.

Before session 2: page 28-43 req/s at first, then 199-209 req/s after the trigger-kept counters (migration
0010), the principal cache, batched last_used_at and the page in 2 statements. The machine is shared:
figures vary by about +-30 % between runs; the bare handler itself ranged 4,700-16,000 req/s."""


def write_results(text: str) -> None:
    start, end = "<!-- api:start -->", "<!-- api:end -->"
    section = (f"{start}\n## api\n\n`python -m bench api` on {multiprocessing.cpu_count()} cores, Python "
               f"{platform.python_version()}, SQLite file and PostgreSQL side by side: API server and bare "
               f"aiohttp handler each in "
               f"its own process, {CONNECTIONS} keep-alive connections for {DURATION_S:.0f} s per "
               f"scenario, API-key auth. Targets: >= 50 % of the bare handler's req/s, p99 <= 25 ms."
               f"\n\n{text}\n\n{NOTES}\n{end}")
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start in current:
        current = current[:current.index(start)] + section + current[current.index(end) + len(end):]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench api", description=__doc__)
    parser.add_argument("--db", default="sqlite,postgres",
                        help="comma-separated databases, reported side by side [sqlite,postgres]")
    parser.add_argument("--pg-server", default=PG_SERVER, help=f"server for postgres [{PG_SERVER}]")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    for db in args.db.split(","):
        with bench_database(db, args.pg_server) as url:
            sim, key = asyncio.run(seed(url))
            body = asyncio.run(sample_page(url, sim, key))
            measured = asyncio.run(measure(url, sim, key, body))
        runs += [replace(run, name=f"{run.name} ({db})") for run in measured[0 if not runs else 1:]]
    text = table(runs)
    print(text)
    write_results(text)
    return 0


# Issue 9: the same run on PostgreSQL (a throwaway database on this server), beside SQLite.
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def bench_database(db: str, pg_server: str) -> Iterator[str]:
    """A fresh database URL: a SQLite file in a temporary directory, or a new database on `pg_server`."""
    if db == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    if db != "postgres":
        raise SystemExit(f"--db: unknown database {db!r} (sqlite or postgres)")
    server = make_url(pg_server)
    name = f"simrelay_bench_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(sql_text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def sample_page(url: str, sim: int, key: str) -> bytes:
    """The exact JSON the API answers for the page, so the bare handler serves the same bytes."""
    engine = create_engine(url)
    app = create_app(build_services(session_factory(engine), SystemClock()), ApiSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{port}/api/sims/{sim}/messages?per_page=50&page=7",
                headers={"Authorization": f"Bearer {key}"}) as reply:
            return json.dumps(await reply.json()).encode()
    finally:
        await runner.cleanup()
        await engine.dispose()
