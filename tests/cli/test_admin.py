"""`simrelay db upgrade` and `simrelay admin ...` as real subprocesses on a SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gatewayd.clock import SystemClock
from gatewayd.services.container import build_services
from gatewayd.store.engine import create_engine, session_factory
from tests.store.test_migrations import single_head

TIMEOUT_S = 60


def simrelay(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMRELAY_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "gatewayd", *args], input=stdin, capture_output=True, text=True,
        timeout=TIMEOUT_S, env=environment, check=False,
    )  # fmt: skip


def ok_json(*args: str, stdin: str | None = None) -> dict[str, Any]:
    done = simrelay(*args, "--json", stdin=stdin)
    assert done.returncode == 0, done.stderr
    payload: dict[str, Any] = json.loads(done.stdout)
    return payload


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'state' / 'simrelay.db'}"
    assert ok_json("db", "upgrade", "--db", url) == {"status": "ok", "revision": single_head()}
    return ["--db", url]


def test_admin_commands_build_an_organisation_whose_key_authenticates(db: list[str]) -> None:
    org = ok_json("admin", "org", "create", "acme", *db)["organization"]
    team = ok_json("admin", "team", "create", "--org", str(org["id"]), "ops", *db)["team"]
    user = ok_json(
        "admin", "user", "create", "--org", "acme", "--team", "ops", "--email", "ada@acme.example",
        "--name", "Ada", "--password-stdin", *db, stdin="long enough secret\n",
    )["user"]  # fmt: skip
    created = ok_json(
        "admin", "api-key", "create", "--org", "acme", "--user", "ADA@acme.example", "--name", "ci",
        "--permissions", "numbers.read,messages.read", *db,
    )  # fmt: skip
    assert (org["name"], team["name"], user["email"]) == ("acme", "ops", "ada@acme.example")
    assert created["api_key"]["permissions"] == ["numbers.read", "messages.read"]
    assert created["plain_text_key"].startswith(created["api_key"]["key_prefix"])
    assert ok_json("admin", "sim", "assign", "--all-unassigned", "--org", "acme", *db) == {"assigned": []}

    async def authenticate() -> tuple[int | None, frozenset[str]]:
        engine = create_engine(db[1])
        try:
            principal = await build_services(session_factory(engine), SystemClock()).auth.authenticate(
                created["plain_text_key"]
            )
        finally:
            await engine.dispose()
        assert principal is not None
        return principal.user_id, principal.permissions

    assert asyncio.run(authenticate()) == (user["id"], frozenset({"numbers.read", "messages.read"}))


def test_errors_go_to_stderr_with_exit_code_2(db: list[str]) -> None:
    assert simrelay("admin", "org", "create", "acme", *db).returncode == 0
    duplicate = simrelay("admin", "org", "create", "acme", *db)
    assert (duplicate.returncode, duplicate.stdout) == (2, "")
    assert "already exists" in duplicate.stderr
    bad_permission = simrelay(
        "admin", "api-key", "create", "--org", "acme", "--user", "a@b.c", "--name", "k",
        "--permissions", "numbers.read,root", *db,
    )  # fmt: skip
    assert bad_permission.returncode == 2 and "root" in bad_permission.stderr
    missing_sim = simrelay("admin", "sim", "assign", "--iccid", "8944", "--org", "acme", *db)
    assert missing_sim.returncode == 2 and "8944" in missing_sim.stderr


def test_the_database_url_comes_from_the_environment_when_no_flag(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    done = simrelay("db", "upgrade", env={"SIMRELAY_DB_URL": url})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "env.db").is_file()
    text = simrelay("admin", "org", "create", "acme", env={"SIMRELAY_DB_URL": url})
    assert text.returncode == 0 and "acme" in text.stdout
