"""End to end: SMS injected into an emulated bank reach the HTTP API with their exact text, and leave
the modem's storage only after they are stored."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port, poll_until, simrelay

pytestmark = pytest.mark.system

TEXTS = [
    "Your code is 123456",
    "Grüße aus Köln: 5€ [ok] {x} ~ ^ | \\ §",
    "Привет, код 4242",
    "验证码 987654 😀",
    "emoji only 🎉🎉",
]


async def test_serve_simulate_delivers_every_sms_once(tmp_path: Path) -> None:
    api_port, control_port = free_port(), free_port()
    args = [
        "serve",
        "--simulate",
        "2",
        "--db",
        f"sqlite+aiosqlite:///{tmp_path}/simrelay.db",
        "--listen",
        f"127.0.0.1:{api_port}",
        "--simulate-control",
        f"127.0.0.1:{control_port}",
    ]
    async with simrelay(args, cwd=tmp_path) as daemon, aiohttp.ClientSession() as http:
        key = daemon.banner["admin_api_key"]
        control = daemon.banner["control_url"]
        auth = {"Authorization": f"Bearer {key}"}
        async with http.get(f"{daemon.banner['base_url']}/api/sims", headers=auth) as response:
            assert response.status == 200
            sims = (await response.json())["data"]
        assert len(sims) == 2

        expected: list[str] = []
        for n in range(20):
            text = f"{TEXTS[n % len(TEXTS)]} #{n}"
            expected.append(text)
            body = {"from": f"+4915100000{n:03d}", "text": text}
            async with http.post(f"{control}/modems/{n % 2}/sms", json=body) as response:
                assert response.status == 201, await response.text()

        async def all_messages() -> list[dict[str, object]] | None:
            found: list[dict[str, object]] = []
            for sim in sims:
                url = f"{daemon.banner['base_url']}/api/sims/{sim['id']}/messages?per_page=100"
                async with http.get(url, headers=auth) as response:
                    found.extend((await response.json())["data"])
            return found if len(found) >= 20 else None

        messages = await poll_until(all_messages)
        assert sorted(m["text"] for m in messages) == sorted(expected)
        assert len(messages) == 20

        async def storage_empty() -> bool:
            for index in (0, 1):
                async with http.get(f"{control}/modems/{index}/storage") as response:
                    if (await response.json())["messages"]:
                        return False
            return True

        assert await poll_until(storage_empty)
