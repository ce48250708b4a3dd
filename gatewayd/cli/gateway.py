"""`simrelay gateway`: one rack host of many: drives its modems, stores what they receive, sends the queued
SMS of the SIMs it holds, and heart-beats into the shared PostgreSQL. No HTTP API here (see `simrelay api`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from gatewayd.config import load_settings
from gatewayd.runtime import Runtime, serve_until_signalled


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("gateway", help="drive this host's modems (many hosts on one PostgreSQL)")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file")
    parser.add_argument("--db", metavar="URL", help="database URL (postgresql+asyncpg://... for many hosts)")
    parser.add_argument("--host-name", metavar="NAME", help="the name this host heart-beats under "
                        "(default: the machine's host name; unique per gateway process)")
    parser.add_argument(
        "--modem", metavar="PATH", action="append", default=[], help="a serial port to drive (repeatable)"
    )
    parser.add_argument("--simulate", metavar="N", type=int, help="also run an emulated bank of N modems")
    parser.add_argument("--simulate-control", metavar="HOST:PORT", help="control API of the emulated bank")
    parser.add_argument("--simulate-dir", metavar="DIR", help="where the emulated bank's ptys live")
    parser.add_argument("--json", action="store_true", help="print the start-up banner as one JSON object")
    parser.set_defaults(handler=run)


def overrides_from(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    if args.db:
        overrides.setdefault("db", {})["url"] = args.db
    if args.host_name:
        overrides.setdefault("gateway", {})["host_name"] = args.host_name
    if args.modem:
        overrides.setdefault("gateway", {})["modems"] = list(args.modem)
    if args.simulate is not None:
        overrides.setdefault("simulate", {})["count"] = args.simulate
    if args.simulate_control:
        overrides.setdefault("simulate", {})["control"] = args.simulate_control
    if args.simulate_dir:
        overrides.setdefault("simulate", {})["directory"] = args.simulate_dir
    return overrides


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, overrides=overrides_from(args))
    logging.basicConfig(
        level=settings.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve_until_signalled(Runtime(settings, role="gateway"), json_output=args.json))
