"""`python -m bench ingest`: the modem engine's four measurements from issue 3 — realistic bank, throughput,
idle CPU, peak RSS — over emulated modems on ptys with the real daemon in its own process.

Prints a table and rewrites the ingest section of bench/RESULTS.md. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import tempfile
from pathlib import Path

from bench.ingest.harness import IngestRun, Sms, idle_cpu, ingest
from gatewayd.fakemodem.pty import LinkTiming

RESULTS = Path(__file__).resolve().parent.parent / "RESULTS.md"
REALISTIC = LinkTiming(latency_s=(0.010, 0.050), baud=115200, seed=1)
INSTANT = LinkTiming()


def realistic_messages(modems: int) -> list[Sms]:
    """20 per modem, 30 parts: 6 GSM-7, 3 UCS-2 and 3 emoji singles; 2 two-part GSM-7 (with extension
    characters), 2 two-part UCS-2, 2 two-part emoji, 2 three-part emoji."""
    messages: list[Sms] = []
    for modem in range(modems):
        texts = [f"m{modem} n{n}: your code is {1000 + n}" for n in range(6)]
        texts += [f"m{modem} n{6 + n}: Привет, как дела?" for n in range(3)]
        texts += [f"m{modem} n{9 + n}: ok 😀 see you" for n in range(3)]
        texts += [f"m{modem} n{12 + n}: " + "price {10€} [a|b] ~ " * 9 for n in range(2)]
        texts += [f"m{modem} n{14 + n}: " + "Съешь же ещё этих мягких булок. " * 3 for n in range(2)]
        texts += [f"m{modem} n{16 + n}: " + "party 🎉🎉 tonight " * 4 for n in range(2)]
        texts += [f"m{modem} n{18 + n}: " + "🚀 launch at dawn, bring snacks 🍕 " * 5 for n in range(2)]
        messages += [Sms(modem, text) for text in texts]
    return messages


def bulk_messages(modems: int, per_modem: int) -> list[Sms]:
    """Single-part SMS, every fourth one UCS-2."""
    return [Sms(m, f"m{m} n{n} Grüße 😀" if n % 4 == 0 else f"m{m} n{n} your code is {n:06d}")
            for m in range(modems) for n in range(per_modem)]  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


def ingest_row(name: str, run: IngestRun) -> str:
    p50, p95 = percentile(run.latencies, 0.50), percentile(run.latencies, 0.95)
    per_1000 = 1000 * run.cpu_s / run.messages
    return (f"| {name} | {run.modems} × {run.messages // run.modems} ({run.parts} parts) | "
            f"{run.wall_s:.2f} | {run.messages / run.wall_s:.0f} | {1000 * p50:.0f} / {1000 * p95:.0f} | "
            f"{per_1000:.2f} | "
            f"{run.peak_rss_mib:.0f} | {run.lost} / {run.left_on_modems} |")  # fmt: skip


HEADER = ("| scenario | modems × SMS | wall (s) | SMS/s | custody p50 / p95 (ms) | daemon CPU s / 1,000 SMS "
          "| daemon peak RSS (MiB) | lost / left on modems |\n|---|---|---|---|---|---|---|---|")


async def run_all(args: argparse.Namespace) -> list[str]:
    rows: list[str] = []
    for db in args.db.split(","):  # issue 9: the same steps per database, side by side
        rows += await run_steps(args, db)
    return rows


async def run_steps(args: argparse.Namespace, db: str) -> list[str]:
    rows: list[str] = []
    steps = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        base = Path(directory)
        if "realistic" in steps:
            run = await ingest(8, realistic_messages(8), base / "realistic", timing=REALISTIC,
                               storage_size=40, db=db)  # fmt: skip
            rows.append(ingest_row(f"realistic bank (10–50 ms, 115200 Bd), {db}", run))
            print(rows[-1], flush=True)
        for count in (64, 256) if "throughput" in steps else ():
            run = await ingest(count, bulk_messages(count, args.per_modem), base / f"throughput{count}",
                               timing=INSTANT, storage_size=args.per_modem + 10, db=db)  # fmt: skip
            rows.append(ingest_row(f"throughput, latency 0, {count} modems, {db}", run))
            print(rows[-1], flush=True)
        if "idle" in steps:
            cpu_s, rss = await idle_cpu(128, args.idle_s, base / "idle", db)
            rows.append(f"| idle, 128 modems, {args.idle_s:.0f} s, {db} | 128 × 0 | {args.idle_s:.0f} | – | "
                        "– | "
                        f"{100 * cpu_s / args.idle_s:.2f} % of a core | {rss:.0f} | – |")  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def write_results(table: str) -> None:
    start, end = "<!-- ingest:start -->", "<!-- ingest:end -->"
    section = (f"{start}\n## ingest\n\n`python -m bench ingest` on {multiprocessing.cpu_count()} cores, "
               f"Python {platform.python_version()}, SQLite file and PostgreSQL side by side: emulated "
               "bank on ptys in the benchmark "
               "process, "
               "`simrelay serve` in its own process (CPU and peak RSS from /proc of the daemon only). "
               "Custody = parts handed to the modem → last part deleted after the commit. Targets: "
               "realistic bank ≤ 1.5 s wall and p95 ≤ 1.2 s; ≥ 500 SMS/s at 64 modems; idle ≤ 1 % of a core "
               f"at 128 modems; peak RSS ≤ 150 MB at 256 modems.\n\n{table}\n{end}")  # fmt: skip
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start in current:
        current = current[: current.index(start)] + section + current[current.index(end) + len(end) :]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__)
    parser.add_argument("--only", default="realistic,throughput,idle", help="comma-separated steps")
    parser.add_argument("--idle-s", type=float, default=60.0, help="idle measurement window [60]")
    parser.add_argument("--per-modem", type=int, default=50, help="SMS per modem for throughput [50]")
    parser.add_argument("--db", default="sqlite,postgres",
                        help="comma-separated databases, reported side by side [sqlite,postgres]")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    rows = asyncio.run(run_all(args))
    if not args.no_write:
        write_results(HEADER + "\n" + "\n".join(rows))
    return 0
