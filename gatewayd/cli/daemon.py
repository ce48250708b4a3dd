"""What `simrelay serve`, `simrelay gateway` and `simrelay api` share: their flags, how flags become setting
overrides, and how the process runs until a signal. Each command picks its role and the flags that fit it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gatewayd.config import load_settings


@dataclass(frozen=True)
class Flag:
    name: str  # "--simulate-control"
    section: str  # settings section it overrides
    key: str
    help: str
    metavar: str
    kind: str = "text"  # text, int, repeat


DB = Flag("--db", "db", "url", "database URL (sqlite+aiosqlite:///... or postgresql+asyncpg://...)", "URL")
LISTEN = Flag("--listen", "api", "listen", "where the API listens (default 127.0.0.1:8080)", "HOST:PORT")
MODEM = Flag("--modem", "gateway", "modems", "a serial port to drive (repeatable)", "PATH", "repeat")
HOST_NAME = Flag(
    "--host-name",
    "gateway",
    "host_name",
    "the name this host heart-beats under (default: the machine's; unique per gateway)",
    "NAME",
)
SIMULATE = Flag("--simulate", "simulate", "count", "also run an emulated bank of N modems", "N", "int")
SIMULATE_CONTROL = Flag(
    "--simulate-control", "simulate", "control", "control API of the emulated bank", "HOST:PORT"
)
SIMULATE_DIR = Flag("--simulate-dir", "simulate", "directory", "where the emulated bank's ptys live", "DIR")


def add_daemon_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    role: str,
    flags: Sequence[Flag],
) -> None:
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument(
        "--config", metavar="FILE", help="TOML settings (default /etc/simrelay/simrelay.toml)"
    )
    for flag in flags:
        options: dict[str, Any] = {"metavar": flag.metavar, "help": flag.help, "dest": _dest(flag)}
        if flag.kind == "repeat":
            options.update(action="append", default=[])
        elif flag.kind == "int":
            options.update(type=int)
        parser.add_argument(flag.name, **options)
    parser.add_argument("--json", action="store_true", help="print the start-up banner as one JSON object")
    parser.set_defaults(handler=lambda args: run(args, role, flags))


def _dest(flag: Flag) -> str:
    return flag.name.lstrip("-").replace("-", "_")


def overrides_from(args: argparse.Namespace, flags: Sequence[Flag]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for flag in flags:
        value = getattr(args, _dest(flag))
        if value is None or value == []:
            continue
        overrides.setdefault(flag.section, {})[flag.key] = list(value) if flag.kind == "repeat" else value
    return overrides


def run(args: argparse.Namespace, role: str, flags: Sequence[Flag]) -> int:
    from gatewayd.runtime import Runtime, serve_until_signalled  # the whole stack, only when a daemon runs

    settings = load_settings(args.config, overrides=overrides_from(args, flags))
    logging.basicConfig(
        level=settings.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = Runtime(settings, role=role)  # type: ignore[arg-type]
    return asyncio.run(serve_until_signalled(runtime, json_output=args.json))
