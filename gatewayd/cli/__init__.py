"""The `simrelay` command: builds the argument parser from one module per command group.

Each command module exposes `register(subparsers)`, which adds its parsers and sets `handler`
(a callable taking the parsed namespace and returning an exit code). Commands print one JSON
object with `--json`, human text otherwise; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gatewayd.errors import ConfigError, SimRelayError


def build_parser() -> argparse.ArgumentParser:
    from gatewayd.cli import admin, db, fakebank, modems, serve

    parser = argparse.ArgumentParser(prog="simrelay", description="SimRelay Gateway")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serve, db, admin, modems, fakebank):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
