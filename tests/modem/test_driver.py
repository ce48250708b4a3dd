"""The driver: one command in flight, URCs handed off mid-response, timeouts and lost links fail fast."""

from __future__ import annotations

import asyncio

import pytest

from gatewayd.at.session import AtCommand, AtSession, UnsolicitedResult
from gatewayd.clock import SystemClock
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.modem.driver import CommandRejected, CommandTimeout, LinkLost, ModemDriver
from tests.modem.links import MemoryLink


def make_driver(urcs: list[UnsolicitedResult]) -> ModemDriver:
    return ModemDriver(AtSession(), SystemClock(), on_unsolicited=urcs.append)


class ScriptedPort:
    """Captures what the driver writes; the test decides what the 'modem' answers, byte for byte."""

    def __init__(self, driver: ModemDriver) -> None:
        self.written = bytearray()
        self.wrote = asyncio.Event()
        driver.attach(self._write)

    def _write(self, data: bytes) -> None:
        self.written += data
        self.wrote.set()


@pytest.mark.parametrize("chunk", [0, 1, 3])
async def test_identity_commands_against_the_fake_modem(chunk: int) -> None:
    urcs: list[UnsolicitedResult] = []
    driver = make_driver(urcs)
    modem = FakeModem(ModemIdentity.for_index(3))
    MemoryLink(driver, modem, chunk=chunk)
    async with asyncio.timeout(5):
        assert (await driver.execute(AtCommand("AT"))).final == "OK"
        lines = await driver.run("AT+CGSN")
    assert modem.data_to_send() == b""
    assert ModemIdentity.for_index(3).imei in lines[0]


async def test_urc_in_the_middle_of_a_response_is_handed_off_not_glued() -> None:
    urcs: list[UnsolicitedResult] = []
    driver = make_driver(urcs)
    port = ScriptedPort(driver)
    task = asyncio.create_task(driver.execute(AtCommand("AT+CMGL=4")))
    async with asyncio.timeout(5):
        await port.wrote.wait()
    assert bytes(port.written) == b"AT+CMGL=4\r"
    driver.data_received(b'\r\n+CMGL: 1,0,,5\r\n0791000000000000\r\n+CMTI: "SM",2\r\n')
    driver.data_received(b"\r\nOK\r\n")
    async with asyncio.timeout(5):
        completed = await task
    assert completed.lines == ("+CMGL: 1,0,,5", "0791000000000000")
    assert [u.name for u in urcs] == ["+CMTI"]


async def test_timeout_then_late_answer_does_not_complete_the_next_command() -> None:
    driver = make_driver([])
    port = ScriptedPort(driver)
    with pytest.raises(CommandTimeout):
        await driver.execute(AtCommand("AT+COPS?", timeout_s=0.05))
    assert driver.timeouts_in_a_row == 1
    port.wrote.clear()
    task = asyncio.create_task(driver.execute(AtCommand("AT+CSQ", timeout_s=5)))
    driver.data_received(b'\r\n+COPS: 0,0,"Late"\r\n\r\nOK\r\n')  # the first command's late answer
    async with asyncio.timeout(5):
        await port.wrote.wait()
    assert bytes(port.written).endswith(b"AT+CSQ\r")
    driver.data_received(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    async with asyncio.timeout(5):
        completed = await task
    assert completed.lines == ("+CSQ: 20,99",)
    assert driver.timeouts_in_a_row == 0


async def test_rejection_carries_the_cms_code() -> None:
    driver = make_driver([])
    port = ScriptedPort(driver)
    task = asyncio.create_task(driver.execute(AtCommand("AT+CMGR=9")))
    async with asyncio.timeout(5):
        await port.wrote.wait()
    driver.data_received(b"\r\n+CMS ERROR: 321\r\n")
    with pytest.raises(CommandRejected) as caught:
        await task
    assert caught.value.cms == 321


async def test_lost_link_fails_the_command_in_flight_and_every_later_one_at_once() -> None:
    driver = make_driver([])
    modem = FakeModem(ModemIdentity.for_index(0))
    link = MemoryLink(driver, modem)
    await driver.run("AT")
    task = asyncio.create_task(driver.execute(AtCommand("AT+CSQ", timeout_s=30)))
    await asyncio.sleep(0)  # let the command be written
    link.unplug()
    async with asyncio.timeout(1):  # far below the command's own 30 s timeout
        with pytest.raises(LinkLost):
            await task
        with pytest.raises(LinkLost):
            await driver.run("AT")
    assert driver.is_lost
