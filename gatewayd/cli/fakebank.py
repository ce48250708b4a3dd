"""`simrelay fakebank`: serve an emulated modem bank on ptys plus its control API until SIGINT/SIGTERM.

Only wiring and printing; the bank lives in gatewayd.fakemodem. Never touches the daemon's store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from gatewayd.errors import ConfigError, SimRelayError
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.control import DEFAULT_HOST, DEFAULT_PORT, start_control_server
from gatewayd.fakemodem.dialect import DIALECTS, SIMCOM_SIM800
from gatewayd.fakemodem.pty import LinkTiming


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "fakebank",
        help="serve emulated GSM modems on pseudo-terminals, with an HTTP control API",
        description="Serve COUNT emulated modems as DIR/ttyGSM0..N-1 (symlinks to ptys) until "
        "SIGINT/SIGTERM; inject SMS and inspect SIM storage through the control API (docs/fakebank.md).",
    )
    parser.add_argument("--count", type=int, required=True, metavar="N", help="number of modems")
    parser.add_argument("--dir", type=Path, required=True, metavar="DIR", help="where the symlinks go")
    parser.add_argument(
        "--control",
        default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help="control API address (port 0: any free port) [%(default)s]",
    )
    parser.add_argument("--seed", type=int, default=0, help="varies IMEIs, ICCIDs and numbers [0]")
    parser.add_argument("--storage-size", type=int, default=30, metavar="SLOTS", help="SIM slots [30]")
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default=SIMCOM_SIM800.name)
    parser.add_argument("--no-echo", action="store_true", help="modems start with ATE0")
    parser.add_argument(
        "--latency-ms", default="0", metavar="LOW[-HIGH]", help="per-answer latency, uniform in range [0]"
    )
    parser.add_argument("--baud", type=int, default=0, metavar="RATE", help="pace the line (0: no pacing)")
    parser.add_argument("--json", action="store_true", help="print one JSON line describing the bank")
    parser.set_defaults(handler=run)


def parse_timing(latency_ms: str, baud: int, seed: int) -> LinkTiming:
    """`--latency-ms 10-50 --baud 115200` → LinkTiming; a ConfigError naming the flag otherwise."""
    low, _, high = latency_ms.partition("-")
    try:
        bounds = (float(low) / 1000, float(high or low) / 1000)
        return LinkTiming(latency_s=bounds, baud=baud or None, seed=seed)
    except ValueError as failed:
        raise ConfigError("--latency-ms", "latency_ms", f"{latency_ms!r} / --baud {baud}: {failed}") from None


def parse_listen_address(value: str) -> tuple[str, int]:
    host, separator, port = value.rpartition(":")
    if not separator or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError("--control", "control", f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.count <= 9_999:
        raise ConfigError("--count", "count", f"must be 0..9999, got {args.count}")
    if not 0 <= args.seed <= 9_999:
        raise ConfigError("--seed", "seed", f"must be 0..9999, got {args.seed}")
    if args.storage_size < 1:
        raise ConfigError("--storage-size", "storage_size", f"must be at least 1, got {args.storage_size}")
    args.timing = parse_timing(args.latency_ms, args.baud, args.seed)
    return asyncio.run(_serve(args, parse_listen_address(args.control)))


async def _serve(args: argparse.Namespace, control: tuple[str, int]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bank = FakeBank(
        args.count,
        args.dir,
        seed=args.seed,
        storage_size=args.storage_size,
        echo=not args.no_echo,
        dialect=DIALECTS[args.dialect],
        timing=args.timing,
    )
    try:
        await bank.start()
    except OSError as failed:
        raise SimRelayError(f"cannot serve the bank in {args.dir}: {failed}") from failed
    try:
        try:
            server = await start_control_server(bank, *control)
        except OSError as failed:
            raise SimRelayError(f"cannot listen on {args.control}: {failed}") from failed
        try:
            _announce(bank, server.url, as_json=args.json)
            await stop.wait()
        finally:
            await server.close()
    finally:
        await bank.close()
    return 0


def _announce(bank: FakeBank, control_url: str, *, as_json: bool) -> None:
    modems = [
        {
            "index": entry.index,
            "path": str(entry.path),
            "device": entry.port.device,
            "imei": entry.modem.identity.imei,
            "iccid": entry.modem.identity.iccid,
            "imsi": entry.modem.identity.imsi,
            "phone_number": entry.modem.identity.phone_number,
        }
        for entry in bank.modems
    ]
    if as_json:
        print(json.dumps({"control_url": control_url, "modems": modems}), flush=True)
        return
    print(f"fakebank: {len(modems)} modem(s), control API at {control_url}")
    for modem in modems:
        print(f"  {modem['path']} -> {modem['device']}  ICCID {modem['iccid']}  {modem['phone_number']}")
    print("Ctrl-C to stop.", flush=True)
    sys.stdout.flush()
