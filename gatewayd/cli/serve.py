"""`simrelay serve`: gateway, API and workers in one process (SQLite by default)."""

from __future__ import annotations

import argparse

from gatewayd.cli.daemon import (
    DB,
    LISTEN,
    MODEM,
    SIMULATE,
    SIMULATE_CONTROL,
    SIMULATE_DIR,
    add_daemon_command,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_daemon_command(
        sub,
        "serve",
        "run the gateway, the API and the workers in one process",
        "all",
        (DB, LISTEN, MODEM, SIMULATE, SIMULATE_CONTROL, SIMULATE_DIR),
    )
