"""Shared pieces of the webhook system tests: a signature-checking receiver, the daemon's arguments and
settings, and the setup done through the CLI and the API (team, SIM assignment, integrations, mappings)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.system.conftest import free_port


@dataclass
class Receiver:
    """A real HTTP endpoint. Each path has the secret the API returned; a POST whose signature does not
    verify fails the test. `mode` is "ok", "fail" (503) or "hang" (held until `release()`); a held
    request whose client went away (the daemon was killed) counts as never answered."""

    secrets: dict[str, str] = field(default_factory=dict)
    mode: str = "ok"
    answered: list[dict[str, Any]] = field(default_factory=list)  # 2xx answers the client received
    refused: int = 0
    holding: int = 0
    held: list[asyncio.BaseTransport | None] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def release(self) -> None:
        self._released.set()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        secret = self.secrets.get(request.path)
        expected = hmac.new((secret or "").encode(), raw, hashlib.sha256).hexdigest()
        body = json.loads(raw)
        if secret is None or request.headers.get("X-Simrelay-Signature") != expected:
            self.bad.append(f"{request.path}: bad signature for {body.get('event_id')}")
        if request.headers.get("X-Simrelay-Delivery") != body["event_id"]:
            self.bad.append(f"{request.path}: X-Simrelay-Delivery != event_id {body['event_id']}")
        if self.mode == "fail":
            self.refused += 1
            return web.Response(status=503, text="down for maintenance")
        if self.mode == "hang":
            self.held.append(request.transport)
            await self._note(holding=1)
            await self._released.wait()
            transport = request.transport
            if transport is None or transport.is_closing():
                return web.Response(status=499)  # nobody is listening any more: never answered
        await self._note(answered={"path": request.path, "body": body})
        return web.Response(status=200, text="ok")

    async def _note(self, *, holding: int = 0, answered: dict[str, Any] | None = None) -> None:
        async with self._changed:
            self.holding += holding
            if answered is not None:
                self.answered.append(answered)
            self._changed.notify_all()

    def held_clients_gone(self) -> bool:
        """Every held request's connection is closed (its client died)."""
        return all(transport is None or transport.is_closing() for transport in self.held)

    def event_ids(self, path: str) -> Counter[str]:
        return Counter(a["body"]["event_id"] for a in self.answered if a["path"] == path)

    async def wait_for(self, path: str, distinct: int, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.event_ids(path)) >= distinct)

    async def wait_holding(self, count: int, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: self.holding >= count)


@dataclass(frozen=True)
class Layout:
    """Where one daemon keeps its things, and the arguments that start it."""

    root: Path
    modems: int
    api_port: int
    control_port: int

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.root / 'simrelay.db'}"

    @property
    def db_file(self) -> Path:
        return self.root / "simrelay.db"

    def serve_args(self) -> list[str]:
        return [
            "serve", "--config", str(self.root / "simrelay.toml"), "--simulate", str(self.modems),
            "--db", self.db_url, "--listen", f"127.0.0.1:{self.api_port}",
            "--simulate-control", f"127.0.0.1:{self.control_port}",
        ]  # fmt: skip


def new_layout(root: Path, modems: int, *, lease_margin_s: float = 15.0, per_destination: int = 8) -> Layout:
    """Settings for a loopback receiver (private networks and http allowed, as the issue says tests do)."""
    (root / "simrelay.toml").write_text(
        "[webhooks]\n"
        "allow_private_networks = true\n"
        "allow_http = true\n"
        f'state_dir = "{root / "state"}"\n'
        f"lease_margin_s = {lease_margin_s}\n"
        f"max_per_destination = {per_destination}\n"
    )
    return Layout(root, modems, free_port(), free_port())


async def admin(layout: Layout, *args: str) -> dict[str, Any]:
    """`simrelay admin ARGS --db ... --json` as its own process; its JSON answer."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd", "admin", *args, "--db", layout.db_url, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=layout.root,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, f"simrelay admin {' '.join(args)}: {err.decode(errors='replace')}"
    answer: dict[str, Any] = json.loads(out)
    return answer


class Api:
    """The daemon's HTTP API with the simulation's admin key."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, key: str) -> None:
        self.http, self.base_url = http, base_url
        self.auth = {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.request(method, self.base_url + path, json=body, headers=self.auth) as reply:
            text = await reply.text()
            assert reply.status == expect, f"{method} {path} → {reply.status}: {text}"
            return json.loads(text) if text else None

    async def sims(self) -> list[dict[str, Any]]:
        sims: list[dict[str, Any]] = (await self.call("GET", "/api/sims"))["data"]
        return sims

    async def integration(
        self, receiver: Receiver, path: str, team_id: int, *, mode: str = "always", timeout_s: int = 10
    ) -> int:
        """An integration POSTing to `receiver` at `path`, mapped to the team; its secret goes to the
        receiver exactly as the API showed it."""
        created = await self.call(
            "POST", "/api/webhook-integrations",
            {"name": f"receiver {path}", "url": receiver.base_url + path, "timeout_seconds": timeout_s,
             "retry_count": 3, "headers": {"X-Test": path}},
            expect=201,
        )  # fmt: skip
        data = created.get("data", created)
        receiver.secrets[path] = data["secret"]
        await self.call(
            "POST", f"/api/webhook-integrations/{data['id']}/mappings",
            {"team_id": team_id, "forwarding_mode": mode}, expect=201,
        )  # fmt: skip
        return int(data["id"])


async def team_with_every_sim(layout: Layout, api: Api, team: str) -> tuple[int, list[dict[str, Any]]]:
    """A team of the simulation organisation that has every simulated SIM (CLI: team create, sim assign)."""
    team_id = int((await admin(layout, "team", "create", "--org", "Simulation", team))["team"]["id"])
    sims = await api.sims()
    await asyncio.gather(*(
        admin(layout, "sim", "assign", "--sim", str(sim["id"]), "--org", "Simulation", "--team", team)
        for sim in sims
    ))  # fmt: skip
    return team_id, sims


def delivery_rows(db_file: Path, integration_id: int) -> list[tuple[str, str, int]]:
    """(event_id, status, attempt) of every outbox row of the integration, read beside the daemon."""
    with sqlite3.connect(db_file) as connection:
        rows = connection.execute(
            "SELECT event_id, status, attempt FROM webhook_deliveries WHERE webhook_integration_id = ?",
            (integration_id,),
        ).fetchall()
    return [(str(a), str(b), int(c)) for a, b, c in rows]
