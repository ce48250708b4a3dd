"""`simrelay gateway`: one rack host of many: drives its modems, stores what they receive, sends the queued
SMS of the SIMs it holds, and heart-beats into the shared PostgreSQL. Its only HTTP is `/metrics`.
"""

from __future__ import annotations

import argparse

from gatewayd.cli.daemon import (
    DB,
    HOST_NAME,
    MODEM,
    SIMULATE,
    SIMULATE_CONTROL,
    SIMULATE_DIR,
    add_daemon_command,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_daemon_command(
        sub,
        "gateway",
        "drive this host's modems (many hosts on one PostgreSQL)",
        "gateway",
        (DB, HOST_NAME, MODEM, SIMULATE, SIMULATE_CONTROL, SIMULATE_DIR),
    )
