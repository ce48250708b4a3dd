"""The `simrelay` command: builds the argument parser from one module per command group.

Each command module exposes `register(subparsers)`, which adds its parsers and sets `handler`
(a callable taking the parsed namespace and returning an exit code). Commands print one JSON
object with `--json`, human text otherwise; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gatewayd.errors import ConfigError, SimRelayError

# Command → module, imported only when that command runs: `simrelay db upgrade` must not pay for
# importing the API, the modem stack and aiohttp (about 1.5 s on a rack host's CPU).
COMMAND_MODULES: dict[str, str] = {
    "serve": "gatewayd.cli.serve",
    "gateway": "gatewayd.cli.gateway",
    "api": "gatewayd.cli.api",
    "db": "gatewayd.cli.db",
    "admin": "gatewayd.cli.admin",
    "modems": "gatewayd.cli.modems",
    "fakebank": "gatewayd.cli.fakebank",
    "send": "gatewayd.cli.send",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv` naming a command, only that command's module is imported."""
    chosen = _command_in(argv)
    parser = argparse.ArgumentParser(prog="simrelay", description="SimRelay Gateway")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMAND_MODULES.items():
        if chosen is None or name == chosen:
            importlib.import_module(module_name).register(sub)
    return parser


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The command word of `argv` (the first non-option argument) when it is a known command."""
    first = next((arg for arg in (argv or ()) if not arg.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"simrelay: configuration error: {exc}", file=sys.stderr)
        return 2
    except SimRelayError as exc:
        print(f"simrelay: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
