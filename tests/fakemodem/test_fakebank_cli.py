"""`simrelay fakebank` as a real subprocess: its JSON line, injection over HTTP, the pty, a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
import serial_asyncio_fast
from aiohttp import ClientSession

from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.sms.pdu import decode_deliver

pytestmark = pytest.mark.system
STARTUP_TIMEOUT_S = 30
TIMEOUT_S = 10


async def test_fakebank_serves_injects_and_cleans_up(tmp_path: Path) -> None:
    bank_dir = tmp_path / "bank"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gatewayd", "fakebank", "--count", "2", "--dir", str(bank_dir)),
        *("--control", "127.0.0.1:0", "--seed", "5", "--json", "--no-echo"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            announced = json.loads(await process.stdout.readline())
        modems = announced["modems"]
        assert [m["iccid"] for m in modems] == [ModemIdentity.for_index(i, 5).iccid for i in range(2)]
        port = Path(modems[1]["path"])
        assert os.readlink(port) == modems[1]["device"]

        reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(port), baudrate=115200)
        writer.write(b"AT+CNMI=2,1,0,0,0\r")
        async with asyncio.timeout(TIMEOUT_S):
            assert await reader.readuntil(b"OK\r\n") == b"\r\nOK\r\n"

        async with ClientSession() as http:
            url = f"{announced['control_url']}/modems/1"
            body = {"from": "+4915112345678", "text": "hello from the CLI test"}
            async with http.post(f"{url}/sms", json=body) as response:
                assert response.status == 201
                assert await response.json() == {"parts": 1, "indexes": [1]}
            async with asyncio.timeout(TIMEOUT_S):
                assert await reader.readuntil(b"\r\n+CMTI") == b"\r\n+CMTI"
                assert await reader.readuntil(b"\r\n") == b': "SM",1\r\n'
            async with http.get(f"{url}/storage") as response:
                storage = await response.json()
        assert decode_deliver(storage["messages"][0]["pdu"]).text == "hello from the CLI test"
        writer.close()
        await writer.wait_closed()

        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT_S):
            assert await process.wait() == 0
        assert list(bank_dir.iterdir()) == []
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_fakebank_refuses_a_bad_control_address(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gatewayd", "fakebank", "--count", "1", "--dir", str(tmp_path)),
        *("--control", "localhost"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert b"expected HOST:PORT, got 'localhost'" in stderr
