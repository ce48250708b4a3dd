"""The ingest benchmark's harness: an emulated bank in this process, the real daemon (`simrelay serve`) in
another, custody timed from injection to the delete that follows the commit, CPU and RSS read from /proc.

Measures only; asserts nothing beyond "everything arrived" (a run that lost a message is reported as such).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.processes import daemon_process, free_port
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.network import encode_incoming
from gatewayd.fakemodem.pty import LinkTiming
from gatewayd.fakemodem.storage import StoredMessage
from gatewayd.store.engine import create_engine
from gatewayd.store.models import Message

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STARTUP_TIMEOUT_S = 120.0
SENDER = "+447700900123"
# BENCH_INGEST_PROFILE=FILE runs each daemon under cProfile, writing its stats to FILE (the last run wins).
PROFILE_FILE = os.environ.get("BENCH_INGEST_PROFILE", "")


@dataclass(frozen=True)
class Sms:
    modem: int
    text: str


@dataclass
class Custody:
    """Per message: when its parts were handed to the modem, and when the last of them was deleted."""

    injected_at: dict[int, float] = field(default_factory=dict)
    parts_left: dict[int, int] = field(default_factory=dict)
    done_at: dict[int, float] = field(default_factory=dict)
    message_of_pdu: dict[tuple[int, str], int] = field(default_factory=dict)
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    def deleted(self, modem: int, message: StoredMessage, now: float) -> None:
        number = self.message_of_pdu.pop((modem, message.pdu), None)
        if number is None:
            return
        self.parts_left[number] -= 1
        if self.parts_left[number] == 0:
            self.done_at[number] = now
            if len(self.done_at) == len(self.injected_at):
                self.all_done.set()

    def latencies(self) -> list[float]:
        return sorted(self.done_at[n] - self.injected_at[n] for n in self.done_at)


@dataclass(frozen=True)
class DaemonUsage:
    cpu_s: float  # user + system of the daemon process
    peak_rss_mib: float  # VmHWM: the high-water mark over the process's life


def daemon_usage(pid: int) -> DaemonUsage:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (proc(5) fields 14, 15)
    peak_kib = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak_kib = int(line.split()[1])
    return DaemonUsage(cpu, peak_kib / 1024)


@dataclass
class Daemon:
    process: asyncio.subprocess.Process
    db_url: str

    def usage(self) -> DaemonUsage:
        return daemon_usage(self.process.pid)

    async def inbound_texts(self) -> list[str]:
        engine = create_engine(self.db_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(select(Message.text).where(Message.direction == "inbound"))
                return [row[0] for row in rows]
        finally:
            await engine.dispose()


# Issue 9: the same runs on PostgreSQL (a throwaway database on this server), beside SQLite.
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def bench_database(db: str, workdir: Path, pg_server: str = PG_SERVER) -> AsyncIterator[str]:
    """A fresh database URL: a SQLite file in `workdir`, or a new database on `pg_server` (dropped after)."""
    if db == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    if db != "postgres":
        raise SystemExit(f"--db: unknown database {db!r} (sqlite or postgres)")
    server = make_url(pg_server)
    name = f"simrelay_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def running_daemon(ports: Sequence[Path], workdir: Path, db_url: str) -> AsyncIterator[Daemon]:
    """`simrelay serve` on these ports and this database; SIGTERM at the end."""
    config = workdir / "simrelay.toml"
    # No udev discovery (only our ptys), quiet logs: the daemon's CPU is what is measured.
    config.write_text('[gateway]\ndiscover = false\n\n[log]\nlevel = "warning"\n')
    args = ["serve", "--config", str(config), "--db", db_url,
            "--listen", f"127.0.0.1:{free_port()}", "--json"]  # fmt: skip
    for port in ports:
        args += ["--modem", str(port)]
    profiling = ["-m", "cProfile", "-o", PROFILE_FILE] if PROFILE_FILE else []
    async with daemon_process(args, cwd=workdir, log=workdir / "daemon.log",
                              startup_timeout_s=STARTUP_TIMEOUT_S, stop_timeout_s=30,
                              python_args=profiling) as (process, _banner):
        yield Daemon(process, db_url)


async def wait_until_serving(bank: FakeBank, settle_s: float) -> None:
    """Every modem has had AT+CNMI (the daemon's last set-up command), then the first sweeps settle."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while any(entry.modem.settings.mt == 0 for entry in bank.modems):
        if loop.time() > deadline:
            waiting = [e.index for e in bank.modems if e.modem.settings.mt == 0]
            raise TimeoutError(f"modems {waiting[:10]} never got AT+CNMI within {STARTUP_TIMEOUT_S} s")
        await asyncio.sleep(0.05)  # bench polling with a deadline above
    await asyncio.sleep(settle_s)  # let the first poll and sweep of every modem finish


def watch_deletes(bank: FakeBank, custody: Custody) -> None:
    loop = asyncio.get_running_loop()
    for entry in bank.modems:

        def on_deleted(message: StoredMessage, modem: int = entry.index) -> None:
            custody.deleted(modem, message, loop.time())

        entry.modem.on_deleted = on_deleted


def inject_all(bank: FakeBank, messages: Sequence[Sms], custody: Custody) -> int:
    """Encode every SMS first, then hand all parts to the modems in one go; returns the parts count."""
    encoded = [(n, sms, encode_incoming(bank[sms.modem].modem, SENDER, sms.text)) for n, sms in
               enumerate(messages)]  # fmt: skip
    loop = asyncio.get_running_loop()
    parts = 0
    touched: set[int] = set()
    for number, sms, pdus in encoded:
        custody.injected_at[number] = loop.time()
        custody.parts_left[number] = len(pdus)
        for pdu in pdus:
            custody.message_of_pdu[(sms.modem, pdu)] = number
        bank[sms.modem].modem.deliver_pdus(pdus)
        touched.add(sms.modem)
        parts += len(pdus)
    for index in touched:
        bank[index].port.pump()
    return parts


@dataclass(frozen=True)
class IngestRun:
    modems: int
    messages: int
    parts: int
    wall_s: float
    latencies: list[float]
    cpu_s: float
    peak_rss_mib: float
    lost: int  # injected texts not found in the store (or found more than once)
    left_on_modems: int


async def ingest(
    count: int, messages: Sequence[Sms], workdir: Path, *, timing: LinkTiming, storage_size: int,
    timeout_s: float = 300.0, db: str = "sqlite",
) -> IngestRun:  # fmt: skip
    async with FakeBank(count, workdir / "bank", storage_size=storage_size, timing=timing) as bank, \
            bench_database(db, workdir) as db_url:  # fmt: skip
        async with running_daemon([e.path for e in bank.modems], workdir, db_url) as daemon:
            await wait_until_serving(bank, settle_s=2.0)
            custody = Custody()
            watch_deletes(bank, custody)
            before = daemon.usage()
            started = asyncio.get_running_loop().time()
            parts = inject_all(bank, messages, custody)
            try:
                async with asyncio.timeout(timeout_s):
                    await custody.all_done.wait()
            except TimeoutError:
                pass  # reported as lost / left on the modems
            finished = max(custody.done_at.values(), default=started)
            after = daemon.usage()
            stored = await daemon.inbound_texts()
    expected = sorted(sms.text for sms in messages)
    lost = len(set(expected) ^ set(stored)) + (len(stored) - len(set(stored)))
    return IngestRun(
        modems=count, messages=len(messages), parts=parts, wall_s=finished - started,
        latencies=custody.latencies(), cpu_s=after.cpu_s - before.cpu_s, peak_rss_mib=after.peak_rss_mib,
        lost=lost, left_on_modems=sum(e.modem.storage_used for e in bank.modems),
    )  # fmt: skip


async def idle_cpu(count: int, duration_s: float, workdir: Path, db: str = "sqlite") -> tuple[float, float]:
    """CPU seconds the daemon spends over `duration_s` with `count` ready modems and no traffic, and its
    peak RSS."""
    async with FakeBank(count, workdir / "bank") as bank, bench_database(db, workdir) as db_url:
        async with running_daemon([e.path for e in bank.modems], workdir, db_url) as daemon:
            await wait_until_serving(bank, settle_s=5.0)
            before = daemon.usage()
            await asyncio.sleep(duration_s)  # the measurement window itself
            after = daemon.usage()
    return after.cpu_s - before.cpu_s, after.peak_rss_mib
