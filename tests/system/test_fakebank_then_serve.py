"""The issue's 'done when': a bank started with `simrelay fakebank`, driven by `simrelay serve --modem`,
shows an injected SMS at /api/sims/{id}/messages with its exact text, and the CLI contract holds on the way.

How fast it arrives is measured by `bench/ingest`, not asserted here (timing belongs in benchmarks)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port, poll_until, simrelay

pytestmark = pytest.mark.system


def run_cli(*args: str, cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "gatewayd", *args, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


async def test_sms_from_a_separate_fakebank_reaches_the_api_within_a_second(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/simrelay.db"
    control_port, api_port = free_port(), free_port()
    bank_args = [
        "fakebank",
        "--count",
        "1",
        "--dir",
        str(tmp_path / "bank"),
        "--control",
        f"127.0.0.1:{control_port}",
    ]
    async with simrelay(bank_args, cwd=tmp_path) as bank:
        tty = bank.banner["modems"][0]["path"]
        serve_args = ["serve", "--db", db, "--listen", f"127.0.0.1:{api_port}", "--modem", tty]
        async with simrelay(serve_args, cwd=tmp_path) as daemon, aiohttp.ClientSession() as http:
            base = daemon.banner["base_url"]

            async def sim_registered() -> bool:
                listed = await asyncio.to_thread(run_cli, "modems", "--db", db, cwd=tmp_path)
                return any(m["hosted_sim_id"] for m in listed["modems"])  # type: ignore[union-attr]

            await poll_until(sim_registered)
            await asyncio.to_thread(run_cli, "admin", "org", "create", "Acme", "--db", db, cwd=tmp_path)
            await asyncio.to_thread(
                run_cli,
                "admin",
                "user",
                "create",
                "--org",
                "Acme",
                "--email",
                "ops@acme.test",
                "--name",
                "Ops",
                "--password",
                "correct horse battery",
                "--db",
                db,
                cwd=tmp_path,
            )
            await asyncio.to_thread(
                run_cli,
                "admin",
                "sim",
                "assign",
                "--all-unassigned",
                "--org",
                "Acme",
                "--db",
                db,
                cwd=tmp_path,
            )
            created = await asyncio.to_thread(
                run_cli,
                "admin",
                "api-key",
                "create",
                "--org",
                "Acme",
                "--user",
                "ops@acme.test",
                "--name",
                "test",
                "--permissions",
                "numbers.read,messages.read",
                "--db",
                db,
                cwd=tmp_path,
            )
            auth = {"Authorization": f"Bearer {created['plain_text_key']}"}
            async with http.get(f"{base}/api/sims", headers=auth) as response:
                [sim] = (await response.json())["data"]

            text = "Код 123456 — £5 ok 👍"
            body = {"from": "+447700900123", "text": text}
            async with http.post(f"{bank.banner['control_url']}/modems/0/sms", json=body) as response:
                assert response.status == 201

            async def arrived() -> list[dict[str, object]]:
                async with http.get(f"{base}/api/sims/{sim['id']}/messages", headers=auth) as response:
                    return (await response.json())["data"]

            [message] = await poll_until(arrived, timeout_s=10, interval_s=0.01)
            assert message["text"] == text and message["from"] == "+447700900123"
