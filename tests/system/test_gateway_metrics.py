"""A gateway-only host (`simrelay gateway`) is scraped by Prometheus like any other: it serves `/metrics`."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port, poll_until, simrelay

pytestmark = pytest.mark.system


async def test_gateway_role_serves_metrics_of_its_modems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, control = free_port(), free_port()
    monkeypatch.setenv("SIMRELAY_GATEWAY_METRICS_LISTEN", f"127.0.0.1:{port}")
    args = [
        "gateway",
        "--simulate",
        "1",
        "--db",
        f"sqlite+aiosqlite:///{tmp_path}/simrelay.db",
        "--simulate-control",
        f"127.0.0.1:{control}",
        "--simulate-dir",
        str(tmp_path / "bank"),
    ]
    async with simrelay(args, cwd=tmp_path), aiohttp.ClientSession() as http:

        async def scraped() -> str | None:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            return text if response.status == 200 and 'state="ready"' in text else None

        text = await poll_until(scraped)
        assert "simrelay_at_command_duration_seconds" in text
        async with http.get(f"http://127.0.0.1:{port}/api/sims") as response:
            assert response.status == 404  # the API itself is not served by a gateway host
