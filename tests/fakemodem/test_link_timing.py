"""Link timing of the pty server: per-answer latency within its range, line pacing at the baud rate, and
output order kept whatever the drawn latencies (the benchmark's realistic bank relies on all three)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import serial_asyncio_fast

from gatewayd.cli.fakebank import parse_timing
from gatewayd.errors import ConfigError
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.fakemodem.pty import LinkTiming, PtyModem
from gatewayd.fakemodem.storage import StoredMessage

TIMEOUT_S = 10


async def exchange(timing: LinkTiming, tmp_path: Path, lines: list[str]) -> tuple[bytes, float]:
    """Write all command lines at once; the bytes up to the last OK and the seconds they took."""
    served = PtyModem(FakeModem(ModemIdentity.for_index(0), echo=False), tmp_path / "ttyGSM0", timing=timing)
    served.plug()
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(served.path))
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = b""
        for line in lines:  # one line at a time so that each gets its own latency draw
            writer.write(line.encode() + b"\r")
            async with asyncio.timeout(TIMEOUT_S):
                received += await reader.readuntil(b"OK\r\n")
        elapsed = loop.time() - started
        writer.close()
        await writer.wait_closed()
        return received, elapsed
    finally:
        served.close()


async def test_latency_stays_within_its_range(tmp_path: Path) -> None:
    received, elapsed = await exchange(LinkTiming(latency_s=(0.02, 0.04)), tmp_path, ["AT"] * 10)
    assert received == b"\r\nOK\r\n" * 10
    assert 10 * 0.02 <= elapsed < 10 * 0.04 + 1.0  # upper bound: generous scheduling slack


async def test_the_line_is_paced_at_the_baud_rate(tmp_path: Path) -> None:
    # 9600 baud = 960 bytes/s; AT+CGSN answers 2+15+2+6 = 25 bytes, 20 answers = 500 bytes ≈ 0.52 s.
    received, elapsed = await exchange(LinkTiming(baud=9600), tmp_path, ["AT+CGSN"] * 20)
    assert len(received) == 20 * 25
    assert elapsed >= len(received) * 10 / 9600


def test_timing_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="latency range"):
        LinkTiming(latency_s=(0.05, 0.01))
    with pytest.raises(ValueError, match="baud"):
        LinkTiming(baud=0)


async def test_urcs_and_answers_keep_their_order_under_random_latency(tmp_path: Path) -> None:
    modem = FakeModem(ModemIdentity.for_index(0), echo=False)
    served = PtyModem(modem, tmp_path / "ttyGSM0", timing=LinkTiming(latency_s=(0.0, 0.03), seed=7))
    served.plug()
    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(served.path))
        for number in range(30):
            modem.emit_unsolicited([f"+CSQN: {number}"])
            served.pump()
        async with asyncio.timeout(TIMEOUT_S):
            data = await reader.readuntil(b"+CSQN: 29\r\n")
        numbers = [int(line.split(b": ")[1]) for line in data.split(b"\r\n") if line.startswith(b"+CSQN")]
        assert numbers == list(range(30))
        writer.close()
        await writer.wait_closed()
    finally:
        served.close()


def test_deleting_tells_the_listener_about_exactly_the_removed_messages() -> None:
    modem = FakeModem(ModemIdentity.for_index(0), echo=False)
    modem.receive_data(b"AT+CNMI=2,1,0,0,0\r")
    modem.inject_sms("+4915112345678", "one")
    modem.inject_sms("+4915112345678", "two")
    deleted: list[StoredMessage] = []
    modem.on_deleted = deleted.append
    modem.receive_data(b"AT+CMGD=1;+CMGD=3\r")
    assert modem.data_to_send().endswith(b"\r\nOK\r\n")
    assert [message.index for message in deleted] == [1]
    assert [message.index for message in modem.storage] == [2]


def test_fakebank_flags_become_link_timing() -> None:
    assert parse_timing("10-50", 115200, 3) == LinkTiming(latency_s=(0.01, 0.05), baud=115200, seed=3)
    assert parse_timing("0", 0, 0) == LinkTiming()
    with pytest.raises(ConfigError, match="--latency-ms"):
        parse_timing("50-10", 0, 0)
    with pytest.raises(ConfigError, match="--latency-ms"):
        parse_timing("fast", 0, 0)
