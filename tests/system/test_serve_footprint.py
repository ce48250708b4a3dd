"""Issue 3 (peak RSS): a running `simrelay serve` on SQLite has not loaded what only some requests or the
other database need; each is imported on first use (see docs/architecture.md, lazy imports)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import free_port, simrelay

pytestmark = pytest.mark.system

# Shared objects of packages the daemon must not map before they are used (about 8 MiB and 4 MiB resident).
NOT_LOADED_AT_START = ("/cryptography/", "/asyncpg/")


def mapped_files(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split()[-1] for line in maps if "/" in line}


async def test_serve_on_sqlite_loads_neither_the_cipher_nor_the_postgres_driver(tmp_path: Path) -> None:
    args = ["serve", "--simulate", "1", "--db", f"sqlite+aiosqlite:///{tmp_path}/simrelay.db",
            "--listen", f"127.0.0.1:{free_port()}", "--simulate-control", f"127.0.0.1:{free_port()}"]
    async with simrelay(args, cwd=tmp_path) as daemon, aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {daemon.banner['admin_api_key']}"}
        async with http.get(f"{daemon.banner['base_url']}/api/sims", headers=auth) as response:
            assert response.status == 200
        files = mapped_files(daemon.proc.pid)
        assert any("/aiohttp/" in path for path in files)  # the check sees extension modules at all
        assert [path for path in files if any(part in path for part in NOT_LOADED_AT_START)] == []
