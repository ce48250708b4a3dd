"""`simrelay send`: queue one outgoing SMS on a hosted SIM; the gateway owning the SIM sends it.

Writes the same queued row the HTTP API writes (services/outbound.py); it never talks to a modem. A
running daemon in another process picks the row up within its outbox check interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from datetime import datetime

from gatewayd.clock import SystemClock
from gatewayd.config import load_settings
from gatewayd.services.outbound import QueuedMessage, queue_outbound
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("send", help="queue an SMS: simrelay send --sim ID --to +E164 --text TEXT")
    parser.add_argument("--sim", type=int, required=True, metavar="ID", help="hosted SIM id")
    parser.add_argument("--to", required=True, metavar="E164", help="recipient, e.g. +4915112345678")
    parser.add_argument("--text", required=True, help="1..1600 characters, at most 10 SMS segments")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("--db", metavar="URL")
    parser.add_argument("--json", action="store_true", help="print the queued message as one JSON object")
    parser.set_defaults(handler=run)


async def _queue(url: str, sim_id: int, recipient: str, text: str) -> QueuedMessage:
    await upgrade(url)
    engine = create_engine(url)
    try:
        return await queue_outbound(
            session_factory(engine), SystemClock(), None, hosted_sim_id=sim_id, recipient=recipient, text=text
        )
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    overrides = {"db": {"url": args.db}} if args.db else {}
    settings = load_settings(args.config, overrides=overrides)
    queued = asyncio.run(_queue(settings.db.url, args.sim, args.to, args.text))
    if args.json:
        plain = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(queued).items()}
        print(json.dumps(plain))
    else:
        print(
            f"queued message {queued.id} to {queued.recipient} on SIM {queued.hosted_sim_id}"
            f" ({queued.segments} segment{'s' if queued.segments != 1 else ''}, {queued.encoding})"
        )
    return 0
