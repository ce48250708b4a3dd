"""`simrelay modems`: the modems and ports the gateways drive, as the daemons last recorded them in the store:
slot label, port, state (busy, HiLink, unplugged, ...), IMEI, ICCID, hosted SIM, signal, storage, SIM PIN
state and recovery-ladder steps taken."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from gatewayd.clock import SystemClock
from gatewayd.config import load_settings
from gatewayd.services.gateway import GatewayRecorder
from gatewayd.services.ports import HostPort, PortReports
from gatewayd.services.views import ModemView
from gatewayd.store.engine import create_engine, session_factory

COLUMNS = ("slot", "port", "state", "imei", "iccid", "hosted_sim_id", "signal_strength", "operator",
           "storage", "pin_state", "recovery", "detail")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("modems", help="list modems and ports: slot, port, state, IMEI, ICCID, SIM")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--db", metavar="URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


async def _list(url: str) -> tuple[list[ModemView], list[HostPort]]:
    engine = create_engine(url)
    try:
        sessions, clock = session_factory(engine), SystemClock()
        return await GatewayRecorder(sessions, clock).list_modems(), await PortReports(sessions, clock).list()
    finally:
        await engine.dispose()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def rows(modems: list[ModemView], ports: list[HostPort]) -> list[dict[str, str]]:
    """One row per modem (with the slot and live state of the port it was last seen on), then one per port
    that has no modem behind it: busy, HiLink, unknown, or never answered."""
    by_imei = {port.report.imei: port.report for port in ports if port.report.imei}
    table = []
    for modem in modems:
        port = by_imei.get(modem.imei)
        storage = f"{modem.storage_used or 0}/{modem.storage_total}" if modem.storage_total else ""
        values = {**asdict(modem), "storage": storage}
        if port is not None:
            values.update(slot=port.slot, port=port.devname, state=port.state, detail=port.detail)
        elif ports:
            # Gateways report the ports they drive; a modem on none of them is gone (unplugged, removed).
            seen = modem.last_seen_at.isoformat(timespec="seconds") if modem.last_seen_at else "never"
            values.update(state="absent", detail=f"no gateway drives it; last seen {seen} on {modem.port} "
                                                 f"as {modem.state}")
        table.append(_cells(values))
    for host_port in ports:
        report = host_port.report
        if report.imei and any(modem.imei == report.imei for modem in modems):
            continue
        values = {"slot": report.slot, "port": report.devname, "state": report.state, "detail": report.detail}
        table.append(_cells(values))
    return table


def _cells(values: dict[str, Any]) -> dict[str, str]:
    return {column: "" if values.get(column) is None else str(values[column]) for column in COLUMNS}


def run(args: argparse.Namespace) -> int:
    overrides = {"db": {"url": args.db}} if args.db else {}
    settings = load_settings(args.config, overrides=overrides)
    modems, ports = asyncio.run(_list(settings.db.url))
    if args.json:
        print(json.dumps({
            "modems": [{k: _plain(v) for k, v in asdict(m).items()} for m in modems],
            "ports": [{"host": p.host, **asdict(p.report), "updated_at": _plain(p.updated_at)}
                      for p in ports],
            "rows": rows(modems, ports),
        }))
        return 0
    table = [dict(zip(COLUMNS, COLUMNS, strict=True)), *rows(modems, ports)]
    widths = {column: max(len(row[column]) for row in table) for column in COLUMNS}
    for row in table:
        print("  ".join(row[column].ljust(widths[column]) for column in COLUMNS).rstrip())
    return 0
