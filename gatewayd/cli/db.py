"""`simrelay db upgrade`: bring the database to the newest schema (creates a SQLite file's directory).

Also owns how the CLI finds the database (`--db`, else `--config`/environment via gatewayd.config).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from gatewayd.config import load_settings
from gatewayd.store.migrate import current_revision, upgrade


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """`--db`, `--config` and `--json`, the options every store-backed command shares."""
    parser.add_argument(
        "--db", metavar="URL", help="database URL (default: $SIMRELAY_DB_URL or var/simrelay.db)"
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML settings (default /etc/simrelay/simrelay.toml)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def database_url(args: argparse.Namespace) -> str:
    """`--db URL`, else the settings (file, then SIMRELAY_DB_URL), else the default SQLite file."""
    overrides: dict[str, dict[str, Any]] = {"db": {"url": args.db}} if args.db else {}
    return load_settings(args.config, overrides=overrides).db.url


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database schema")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade_parser = actions.add_parser("upgrade", help="apply every migration not yet applied")
    add_database_options(upgrade_parser)
    upgrade_parser.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    url = database_url(args)

    async def upgrade_and_report() -> str | None:
        await upgrade(url)
        return await current_revision(url)

    revision = asyncio.run(upgrade_and_report())
    if args.json:
        print(json.dumps({"status": "ok", "revision": revision}))
    else:
        print(f"database at revision {revision}")
    return 0
