"""`simrelay api`: the HTTP API, the WebSocket feed, the webhook workers and the sweeps, for as many hosts
as needed behind a load balancer on one PostgreSQL. Never drives a modem (see `simrelay gateway`).
"""

from __future__ import annotations

import argparse

from gatewayd.cli.daemon import DB, LISTEN, add_daemon_command


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_daemon_command(
        sub, "api", "serve the HTTP API, WebSocket feed and webhook workers", "api", (DB, LISTEN)
    )
