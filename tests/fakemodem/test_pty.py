"""The pty server and the bank, driven by the daemon's real serial client (pyserial-asyncio-fast)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]
import serial_asyncio_fast

from gatewayd.clock import ManualClock
from gatewayd.fakemodem.bank import FakeBank, UnknownModem
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.fakemodem.pty import PtyModem
from gatewayd.sms.pdu import decode_deliver

TIMEOUT_S = 5


async def open_port(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await serial_asyncio_fast.open_serial_connection(url=str(path), baudrate=115200)


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str) -> bytes:
    writer.write(text.encode() + b"\r")
    async with asyncio.timeout(TIMEOUT_S):
        return await reader.readuntil(b"OK\r\n")


async def close_port(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[PtyModem]:
    served = PtyModem(FakeModem(ModemIdentity.for_index(0), echo=False), tmp_path / "ttyGSM0")
    served.plug()
    yield served
    served.close()


async def test_a_serial_client_gets_exact_bytes_through_the_symlink(port: PtyModem) -> None:
    assert os.readlink(port.path) == port.device
    reader, writer = await open_port(port.path)
    assert await command(reader, writer, "AT") == b"\r\nOK\r\n"
    # CR must arrive as CR and nothing may be echoed by the line discipline: both ends are raw.
    assert await command(reader, writer, "ATE1") == b"\r\nOK\r\n"
    assert await command(reader, writer, "AT+CSQ") == b"AT+CSQ\r\r\n+CSQ: 20,0\r\n\r\nOK\r\n"
    await close_port(writer)


async def test_the_port_can_be_closed_and_reopened(port: PtyModem) -> None:
    for _ in range(3):
        reader, writer = await open_port(port.path)
        assert await command(reader, writer, "AT") == b"\r\nOK\r\n"
        await close_port(writer)


async def test_unplug_fails_the_clients_read_and_replug_serves_the_same_sim(
    port: PtyModem, tmp_path: Path
) -> None:
    reader, writer = await open_port(port.path)
    port.modem.receive_data(b"ATE1;+CNMI=2,1,0,0,0\r")
    port.modem.inject_sms("+4915112345678", "before the unplug")
    port.pump()
    async with asyncio.timeout(TIMEOUT_S):
        assert b'+CMTI: "SM",1' in await reader.readuntil(b'"SM",1\r\n')
    port.unplug()
    assert not port.path.exists() and not port.path.is_symlink()
    with pytest.raises(serial.SerialException):
        async with asyncio.timeout(TIMEOUT_S):
            await reader.read(100)
    writer.close()
    with pytest.raises(serial.SerialException):  # the lost connection's error, once more
        await writer.wait_closed()

    port.replug(tmp_path / "ttyGSM7")
    assert port.path.name == "ttyGSM7" and port.is_plugged
    reader, writer = await open_port(port.path)
    answer = await command(reader, writer, "AT+CMGL=4")
    assert answer.startswith(b"\r\n+CMGL: 1,0,,")  # the power cycle restored the default: no echo
    await close_port(writer)


async def test_reply_delay_holds_the_answer_back(port: PtyModem) -> None:
    loop = asyncio.get_running_loop()
    port.reply_delay_s = 0.2
    reader, writer = await open_port(port.path)
    started = loop.time()
    assert await command(reader, writer, "AT") == b"\r\nOK\r\n"
    assert loop.time() - started >= 0.2
    await close_port(writer)


async def test_output_no_one_reads_is_bounded(tmp_path: Path) -> None:
    modem = FakeModem(ModemIdentity.for_index(0), echo=False)
    served = PtyModem(modem, tmp_path / "ttyGSM0")
    served.plug()
    try:
        for _ in range(20_000):
            modem.emit_unsolicited(["+CSQN: 0123456789012345678901234567890123456789"])
            served.pump()
        assert served.dropped_output_bytes > 0
    finally:
        served.close()


async def test_plug_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "ttyGSM0").write_text("not a tty")
    served = PtyModem(FakeModem(ModemIdentity.for_index(0)), tmp_path / "ttyGSM0")
    with pytest.raises(FileExistsError, match="ttyGSM0"):
        served.plug()
    assert not served.is_plugged


async def test_bank_serves_distinct_modems_and_injects_through_the_pty(tmp_path: Path) -> None:
    clock = ManualClock()
    async with FakeBank(3, tmp_path / "bank", seed=4, echo=False, clock=clock.now) as bank:
        assert [m.path.name for m in bank.modems] == ["ttyGSM0", "ttyGSM1", "ttyGSM2"]
        assert len({m.modem.identity.iccid for m in bank.modems}) == 3
        reader, writer = await open_port(bank[2].path)
        await command(reader, writer, "AT+CNMI=2,1,0,0,0")
        injected = bank.inject(2, "+4915112345678", "x" * 200)
        assert (injected.parts, injected.indexes) == (2, [1, 2])
        async with asyncio.timeout(TIMEOUT_S):
            await reader.readuntil(b'+CMTI: "SM",2\r\n')
        answer = await command(reader, writer, "AT+CMGR=2")
        pdu = answer.split(b"\r\n")[2].decode()
        part = decode_deliver(pdu)
        assert part.sender == "+4915112345678" and part.concat is not None and part.concat.sequence == 2
        assert part.sc_timestamp == clock.now()
        await close_port(writer)
        with pytest.raises(UnknownModem, match="no modem 3 in a bank of 3"):
            bank.inject(3, "+49", "x")
    assert list((tmp_path / "bank").iterdir()) == []
