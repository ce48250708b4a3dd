"""Helpers for system tests: spawn the real `simrelay` command and talk to it over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    banner: dict[str, Any]


@asynccontextmanager
async def simrelay(args: Sequence[str], *, cwd: Path) -> AsyncIterator[Process]:
    """Run `simrelay ARGS --json`, wait for its one-line JSON banner, stop it with SIGTERM at the end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gatewayd",
        *args,
        "--json",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            line = await proc.stdout.readline()
        if not line:
            assert proc.stderr is not None
            err = await proc.stderr.read()
            pytest.fail(
                f"simrelay {' '.join(args)} exited before its banner:\n{err.decode(errors='replace')}"
            )
        yield Process(proc, json.loads(line))
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def poll_until(check, *, timeout_s: float = 20.0, interval_s: float = 0.05):  # type: ignore[no-untyped-def]
    """Call `check()` until it returns a truthy value or the deadline passes (then fail)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s; last value {result!r}")
        await asyncio.sleep(interval_s)  # polling interval, with a deadline above
