"""What every benchmark needs to run the daemon as it runs in production: a free loopback port, and
`python -m gatewayd ... --json` in its own process (its banner read, SIGTERM at the end, kill if it hangs)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def daemon_process(args: Sequence[str], *, cwd: Path, log: Path, startup_timeout_s: float,
                         stop_timeout_s: float, python_args: Sequence[str] = ()
                         ) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    """(process, its JSON banner) of `python [python_args] -m gatewayd args`; stderr goes to `log`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, *python_args, "-m", "gatewayd", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=log.open("wb"),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(startup_timeout_s):
            line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"simrelay exited before its banner; see {log}")
        yield process, json.loads(line)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(stop_timeout_s):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
