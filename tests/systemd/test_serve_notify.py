"""`simrelay serve` under a systemd-like manager: READY once modems are enumerated and the API listens,
WATCHDOG at half of WATCHDOG_USEC, SIGHUP reloads, STOPPING on SIGTERM and an exit within 10 s; /metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port

pytestmark = pytest.mark.system


async def receive(sock: socket.socket, timeout_s: float) -> dict[str, str]:
    async with asyncio.timeout(timeout_s):
        data = await asyncio.get_running_loop().sock_recv(sock, 4096)
    return dict(line.split("=", 1) for line in data.decode().split("\n"))


async def test_serve_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(tmp_path / "notify"))
    manager.setblocking(False)
    port = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000",
           "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd", "serve", "--simulate", "1", "--json",
        "--db", f"sqlite+aiosqlite:///{tmp_path}/s.db", "--listen", f"127.0.0.1:{port}",
        "--simulate-control", f"127.0.0.1:{free_port()}",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = await receive(manager, 60)
        while "READY" not in ready:  # a watchdog ping may come first
            ready = await receive(manager, 60)
        assert ready["READY"] == "1" and f"127.0.0.1:{port}" in ready["STATUS"]
        # READY means the API listens: no retry needed.
        bodies = []
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    bodies.append(await response.text())
        assert "simrelay_modem_up{" in bodies[0] and "process_cpu_seconds_total" in bodies[0]
        # The first scrape was timed by the HTTP middleware and shows in the second, by route template.
        assert 'simrelay_http_requests_total{method="GET",route="/metrics",status="200"} 1.0' in bodies[1]
        loop = asyncio.get_running_loop()
        pings = []
        while len(pings) < 3:
            if (await receive(manager, 5)).get("WATCHDOG") == "1":
                pings.append(loop.time())
        # Fed at the interval and always inside WatchdogSec (1 s), even on a loaded CI host.
        assert all(0.3 < later - earlier < 1.0 for earlier, later in zip(pings, pings[1:], strict=False))

        # SIGHUP reloads profiles and bank maps in place; the process keeps running and says so.
        proc.send_signal(signal.SIGHUP)
        assert proc.stderr is not None
        async with asyncio.timeout(10):
            while b"reloaded" not in (line := await proc.stderr.readline()):
                assert line, "stderr closed before the reload was logged"
        assert proc.returncode is None

        proc.send_signal(signal.SIGTERM)
        stopped_at = loop.time()
        message = await receive(manager, 5)
        while "STOPPING" not in message:
            message = await receive(manager, 5)
        async with asyncio.timeout(10):
            code = await proc.wait()
        assert code == 0, (await proc.stderr.read()).decode() if proc.stderr else ""
        assert loop.time() - stopped_at < 10
    finally:
        manager.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
