"""`simrelay api`: the HTTP API, the WebSocket feed, the webhook workers and the sweeps, for as many hosts
as needed behind a load balancer on one PostgreSQL. Never drives a modem (see `simrelay gateway`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from gatewayd.config import load_settings
from gatewayd.runtime import Runtime, serve_until_signalled


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("api", help="serve the HTTP API, WebSocket feed and webhook workers")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file")
    parser.add_argument("--db", metavar="URL", help="database URL (postgresql+asyncpg://... for many hosts)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="where the API listens")
    parser.add_argument("--json", action="store_true", help="print the start-up banner as one JSON object")
    parser.set_defaults(handler=run)


def overrides_from(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    if args.db:
        overrides.setdefault("db", {})["url"] = args.db
    if args.listen:
        overrides.setdefault("api", {})["listen"] = args.listen
    return overrides


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, overrides=overrides_from(args))
    logging.basicConfig(
        level=settings.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve_until_signalled(Runtime(settings, role="api"), json_output=args.json))
