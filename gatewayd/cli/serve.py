"""`simrelay serve`: gateway, API and workers in one process (SQLite by default)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from gatewayd.config import load_settings
from gatewayd.runtime import Runtime, serve_until_signalled


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the gateway, the API and the workers in one process")
    parser.add_argument(
        "--config", metavar="FILE", help="TOML settings (default /etc/simrelay/simrelay.toml)"
    )
    parser.add_argument(
        "--db", metavar="URL", help="database URL (sqlite+aiosqlite:///... or postgresql+asyncpg://...)"
    )
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="where the API listens (default 127.0.0.1:8080)"
    )
    parser.add_argument(
        "--modem", metavar="PATH", action="append", default=[], help="a serial port to drive (repeatable)"
    )
    parser.add_argument("--simulate", metavar="N", type=int, help="also run an emulated bank of N modems")
    parser.add_argument("--simulate-control", metavar="HOST:PORT", help="control API of the emulated bank")
    parser.add_argument("--json", action="store_true", help="print the start-up banner as one JSON object")
    parser.set_defaults(handler=run)


def overrides_from(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    if args.db:
        overrides.setdefault("db", {})["url"] = args.db
    if args.listen:
        overrides.setdefault("api", {})["listen"] = args.listen
    if args.modem:
        overrides.setdefault("gateway", {})["modems"] = list(args.modem)
    if args.simulate is not None:
        overrides.setdefault("simulate", {})["count"] = args.simulate
    if args.simulate_control:
        overrides.setdefault("simulate", {})["control"] = args.simulate_control
    return overrides


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, overrides=overrides_from(args))
    logging.basicConfig(
        level=settings.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve_until_signalled(Runtime(settings), json_output=args.json))
