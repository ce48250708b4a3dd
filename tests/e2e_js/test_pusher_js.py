"""End to end with the real pusher-js client and the official `pusher` server SDK (npm, pinned in
package-lock.json) against `simrelay serve --simulate 1`. `make test` runs `npm ci --prefix tests/e2e_js`
first; without node or the packages these tests FAIL: they are the proof that real clients work unchanged."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.system.conftest import Process, free_port, simrelay

HERE = Path(__file__).parent
LINE_DEADLINE_S = 20.0

pytestmark = pytest.mark.system


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the pusher-js end-to-end test needs node 20+")
    if not (HERE / "node_modules" / "pusher-js").is_dir() or not (HERE / "node_modules" / "pusher").is_dir():
        pytest.fail("pusher-js is not installed: run `npm ci --prefix tests/e2e_js` (make test does)")
    return node


class NodeClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []

    async def until(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next line of `kind` whose fields match; fails with everything seen when the deadline passes."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(LINE_DEADLINE_S):
                while True:
                    raw = await self.proc.stdout.readline()
                    if not raw:
                        stderr = await self.proc.stderr.read() if self.proc.stderr else b""
                        pytest.fail(f"pusher-js client exited; saw {self.seen}; stderr: {stderr.decode()}")
                    line = json.loads(raw)
                    self.seen.append(line)
                    if line["type"] == kind and all(line.get(k) == v for k, v in fields.items()):
                        return line
        except TimeoutError:
            pytest.fail(f"no {kind} {fields} from pusher-js within {LINE_DEADLINE_S} s; saw {self.seen}")


@asynccontextmanager
async def pusher_js(options: dict[str, Any]) -> AsyncIterator[NodeClient]:
    proc = await asyncio.create_subprocess_exec(
        node_executable(), str(HERE / "client.mjs"), json.dumps(options), cwd=HERE,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield NodeClient(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@asynccontextmanager
async def simulated_gateway(tmp_path: Path) -> AsyncIterator[Process]:
    args = ["serve", "--simulate", "1", "--db", f"sqlite+aiosqlite:///{tmp_path}/simrelay.db",
            "--listen", f"127.0.0.1:{free_port()}", "--simulate-control", f"127.0.0.1:{free_port()}"]
    async with simrelay(args, cwd=tmp_path) as daemon:
        yield daemon


async def get_json(http: aiohttp.ClientSession, url: str, key: str) -> Any:
    async with http.get(url, headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def client_options(http: aiohttp.ClientSession, daemon: Process) -> dict[str, Any]:
    key, base = daemon.banner["admin_api_key"], daemon.banner["base_url"]
    config = await get_json(http, f"{base}/api/websocket-config", key)
    user = await get_json(http, f"{base}/api/user", key)
    return {"key": config["key"], "host": config["ws_host"], "port": config["ws_port"],
            "authEndpoint": config["auth_endpoint"], "token": key,
            "channel": f"private-App.Models.User.{user['user']['id']}"}


async def test_pusher_js_receives_message_received_for_an_sms_from_the_bank(tmp_path: Path) -> None:
    async with simulated_gateway(tmp_path) as daemon, aiohttp.ClientSession() as http:
        options = await client_options(http, daemon)
        sim = (await get_json(http, f"{daemon.banner['base_url']}/api/sims", options["token"]))["data"][0]
        async with pusher_js(options) as client:
            await client.until("subscribed")
            body = {"from": "+4915100000042", "text": "Your code is 123456"}
            async with http.post(f"{daemon.banner['control_url']}/modems/0/sms", json=body) as response:
                assert response.status == 201, await response.text()
            event = await client.until("event", name="message.received")
        data = event["data"]
        assert data["hosted_sim_id"] == sim["id"]
        assert data["message_text"] == "Your code is 123456"
        assert data["from"] == "+4915100000042"
        assert data["to"] == sim["phone_number"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["received_at"])
        stored = await get_json(http, f"{daemon.banner['base_url']}/api/sims/{sim['id']}/messages",
                                options["token"])
        assert [m["id"] for m in stored["data"]] == [data["id"]]


async def test_wrong_token_is_403_at_auth_and_unknown_key_is_4001(tmp_path: Path) -> None:
    async with simulated_gateway(tmp_path) as daemon, aiohttp.ClientSession() as http:
        options = await client_options(http, daemon)
        async with pusher_js({**options, "token": "sk_live_not-a-real-key"}) as client:
            await client.until("connected")
            await client.until("subscription_error", status=403)
        async with pusher_js({**options, "key": "not-our-app-key"}) as client:
            await client.until("connection_error", code=4001)


async def test_official_pusher_sdk_publish_reaches_pusher_js_on_the_reverb_prefix(tmp_path: Path) -> None:
    async with simulated_gateway(tmp_path) as daemon, aiohttp.ClientSession() as http:
        options = await client_options(http, daemon)
        credentials = json.loads((tmp_path / "var" / "realtime.json").read_text())
        trigger = {"appId": credentials["app_id"], "secret": credentials["app_secret"]}
        async with pusher_js({**options, "channel": "public-news", "wsPath": "/reverb",
                              "trigger": trigger}) as client:
            # The event may reach the socket before the SDK sees its HTTP answer: either order is right.
            event = await client.until("event", name="sdk.event")
            if {"type": "triggered", "status": 200} not in client.seen:
                await client.until("triggered", status=200)
        assert event["data"] == {"hello": "from the pusher SDK"}
