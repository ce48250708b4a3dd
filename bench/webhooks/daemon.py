"""The system under measurement for `python -m bench webhooks`: a real `simrelay serve --simulate N`
process, its team and SIM assignment (through `simrelay admin`) and its integrations (through the API).
Starts and stops only the processes it made."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.processes import daemon_process, free_port

STARTUP_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Daemon:
    root: Path
    pid: int
    base_url: str
    control_url: str
    admin_key: str

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.root / 'simrelay.db'}"


@contextlib.asynccontextmanager
async def running_daemon(root: Path, modems: int, *, max_in_flight: int) -> AsyncIterator[Daemon]:
    """`simrelay serve --simulate N` allowing a loopback http receiver; SIGTERM at the end."""
    (root / "simrelay.toml").write_text(
        "[webhooks]\nallow_private_networks = true\nallow_http = true\n"
        f'state_dir = "{root / "state"}"\nmax_in_flight = {max_in_flight}\n'
        '[log]\nlevel = "warning"\n'
    )
    db_url = f"sqlite+aiosqlite:///{root / 'simrelay.db'}"
    args = [
        "serve", "--config", str(root / "simrelay.toml"), "--simulate", str(modems), "--db", db_url,
        "--listen", f"127.0.0.1:{free_port()}", "--simulate-control", f"127.0.0.1:{free_port()}", "--json",
    ]  # fmt: skip
    async with daemon_process(args, cwd=root, log=root / "serve.log", startup_timeout_s=STARTUP_TIMEOUT_S,
                              stop_timeout_s=15) as (process, banner):
        yield Daemon(root, process.pid, banner["base_url"], banner["control_url"], banner["admin_api_key"])


async def admin(daemon: Daemon, *args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd", "admin", *args, "--db", daemon.db_url, "--json", cwd=daemon.root,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"simrelay admin {' '.join(args)}: {err.decode(errors='replace')}")
    answer: dict[str, Any] = json.loads(out)
    return answer


class Api:
    def __init__(self, http: aiohttp.ClientSession, daemon: Daemon) -> None:
        self._http, self._daemon = http, daemon
        self._auth = {"Authorization": f"Bearer {daemon.admin_key}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        url = self._daemon.base_url + path
        async with self._http.request(method, url, json=body, headers=self._auth) as reply:
            text = await reply.text()
            if reply.status >= 300:
                raise RuntimeError(f"{method} {path} → {reply.status}: {text}")
            return json.loads(text)


async def team_with_every_sim(daemon: Daemon, api: Api, team: str) -> int:
    team_id = int((await admin(daemon, "team", "create", "--org", "Simulation", team))["team"]["id"])
    sims = (await api.call("GET", "/api/sims"))["data"]
    await asyncio.gather(*(
        admin(daemon, "sim", "assign", "--sim", str(sim["id"]), "--org", "Simulation", "--team", team)
        for sim in sims
    ))  # fmt: skip
    return team_id


async def add_integration(api: Api, url: str, team_id: int) -> tuple[int, str]:
    """(id, secret) of an `always` integration to `url` mapped to the team."""
    created = (await api.call("POST", "/api/webhook-integrations", {"name": url, "url": url}))["data"]
    await api.call(
        "POST",
        f"/api/webhook-integrations/{created['id']}/mappings",
        {"team_id": team_id, "forwarding_mode": "always"},
    )
    return int(created["id"]), str(created["secret"])


async def deactivate_integration(api: Api, integration_id: int) -> None:
    """Later scenarios do not deliver to it; its delivery rows stay for the timings."""
    await api.call("PATCH", f"/api/webhook-integrations/{integration_id}", {"is_active": False})


def stored_at(daemon: Daemon, integration_ids: list[int]) -> dict[tuple[int, int], float]:
    """{(integration id, SMS number): epoch seconds its outbox row was written (the message's commit)}."""
    query = (
        "SELECT webhook_integration_id, body, created_at FROM webhook_deliveries "
        f"WHERE webhook_integration_id IN ({','.join('?' * len(integration_ids))})"
    )
    with sqlite3.connect(daemon.root / "simrelay.db") as connection:
        rows = connection.execute(query, integration_ids).fetchall()
    found: dict[tuple[int, int], float] = {}
    for integration_id, body, created_at in rows:
        number = int(json.loads(body)["data"]["body"].split("#", 1)[1].split()[0])
        moment = datetime.fromisoformat(created_at).replace(tzinfo=UTC)  # stored as naive UTC
        found[(int(integration_id), number)] = moment.timestamp()
    return found
