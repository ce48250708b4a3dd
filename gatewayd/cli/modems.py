"""`simrelay modems`: the modems the gateway drives, as the daemon last recorded them in the store."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from gatewayd.clock import SystemClock
from gatewayd.config import load_settings
from gatewayd.services.container import build_services
from gatewayd.services.views import ModemView
from gatewayd.store.engine import create_engine, session_factory

COLUMNS = ("port", "imei", "iccid", "hosted_sim_id", "state", "signal_strength", "operator", "storage")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("modems", help="list modems: port, IMEI, ICCID, hosted SIM, state, signal")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--db", metavar="URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


async def _list(url: str) -> list[ModemView]:
    engine = create_engine(url)
    try:
        return await build_services(session_factory(engine), SystemClock()).gateway.list_modems()
    finally:
        await engine.dispose()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _row(modem: ModemView) -> dict[str, str]:
    storage = ""
    if modem.storage_total:
        storage = f"{modem.storage_used or 0}/{modem.storage_total}"
    values = {**asdict(modem), "storage": storage}
    return {column: "" if values.get(column) is None else str(values[column]) for column in COLUMNS}


def run(args: argparse.Namespace) -> int:
    overrides = {"db": {"url": args.db}} if args.db else {}
    settings = load_settings(args.config, overrides=overrides)
    modems = asyncio.run(_list(settings.db.url))
    if args.json:
        print(json.dumps({"modems": [{k: _plain(v) for k, v in asdict(m).items()} for m in modems]}))
        return 0
    rows = [dict(zip(COLUMNS, COLUMNS, strict=True))] + [_row(m) for m in modems]
    widths = {column: max(len(row[column]) for row in rows) for column in COLUMNS}
    for row in rows:
        print("  ".join(row[column].ljust(widths[column]) for column in COLUMNS).rstrip())
    return 0
