"""The inbox keeps invariants 1 and 2: delete only after commit; a re-read is stored once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from gatewayd.at.session import AtSession
from gatewayd.clock import SystemClock
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.modem.driver import LinkLost, ModemDriver
from gatewayd.modem.inbox import Inbox
from gatewayd.services.container import Services
from gatewayd.services.gateway import ReceivedSms
from gatewayd.store.models import Message
from tests.modem.links import MemoryLink
from tests.services.conftest import Stack

IDENTITY = ModemIdentity.for_index(1)


async def online(services: Services, modem: FakeModem) -> tuple[ModemDriver, MemoryLink, int]:
    driver = ModemDriver(AtSession(), SystemClock(), on_unsolicited=lambda urc: None)
    link = MemoryLink(driver, modem)
    for command in ("ATE0", "AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', "AT+CNMI=2,1,0,0,0"):
        await driver.run(command)
    modem_id = await services.gateway.modem_seen(
        imei=IDENTITY.imei, port="mem0", usb_path=None, manufacturer="x", model="y", revision="z"
    )
    sim_id = await services.gateway.sim_seen(
        modem_id=modem_id, iccid=IDENTITY.iccid, imsi=None, phone_number=None, operator=None
    )
    return driver, link, sim_id


def inbox_for(driver: ModemDriver, store_batch, sim_id: int) -> Inbox:  # type: ignore[no-untyped-def]
    return Inbox(
        driver,
        store_batch,
        hosted_sim_id=sim_id,
        sim_key=IDENTITY.iccid,
        list_timeout_s=5,
        command_timeout_s=5,
    )


async def stored_texts(stack: Stack) -> list[str | None]:
    async with stack.sessions() as session:
        rows = await session.execute(select(Message.text).order_by(Message.id))
        return [row[0] for row in rows]


async def test_sweep_stores_every_part_then_empties_storage(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    driver, _, sim_id = await online(stack.services, modem)
    modem.inject_sms("+491701234567", "short GSM-7 text")
    modem.inject_sms("+491701234567", "Emoji 😀 and Ünïcödé")
    modem.inject_sms("+491701234567", "x" * 200)  # two concatenated parts
    result = await inbox_for(driver, stack.services.gateway.store_received, sim_id).sweep()
    assert result.read == 4 and len(result.stored) == 3 and result.deleted == 4
    assert modem.storage_used == 0
    texts = sorted(t or "" for t in await stored_texts(stack))
    assert texts == ["Emoji 😀 and Ünïcödé", "short GSM-7 text", "x" * 200]  # two parts, one message


async def test_nothing_is_deleted_when_the_commit_fails(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    driver, _, sim_id = await online(stack.services, modem)
    modem.inject_sms("+491701234567", "must survive")

    async def database_down(hosted_sim_id: int, items: Sequence[ReceivedSms]) -> list[int]:
        raise ConnectionError("database unreachable")

    with pytest.raises(ConnectionError):
        await inbox_for(driver, database_down, sim_id).sweep()
    assert modem.storage_used == 1
    # The database is back: the same slot is stored and then deleted.
    result = await inbox_for(driver, stack.services.gateway.store_received, sim_id).sweep()
    assert len(result.stored) == 1 and modem.storage_used == 0


async def test_crash_between_commit_and_delete_stores_once(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    driver, link, sim_id = await online(stack.services, modem)
    modem.inject_sms("+491701234567", "read twice, stored once")
    real_store = stack.services.gateway.store_received

    async def store_then_unplug(hosted_sim_id: int, items: Sequence[ReceivedSms]) -> list[int]:
        ids = await real_store(hosted_sim_id, items)
        link.unplug()  # the process dies after the commit, before AT+CMGD
        return ids

    with pytest.raises(LinkLost):
        await inbox_for(driver, store_then_unplug, sim_id).sweep()
    assert modem.storage_used == 1
    driver, _, sim_id = await online(stack.services, modem)  # restart: same modem, same storage
    result = await inbox_for(driver, real_store, sim_id).sweep()
    assert result.stored == [] and result.deleted == 1
    assert modem.storage_used == 0
    async with stack.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 1


async def test_read_by_index_skips_empty_slots_and_keeps_undecodable_pdus(stack: Stack) -> None:
    modem = FakeModem(IDENTITY)
    driver, _, sim_id = await online(stack.services, modem)
    [good] = modem.inject_sms("+491701234567", "fine")
    [bad] = modem.deliver_pdus(["0004FFFF"])  # truncated garbage a broken network element might leave
    inbox = inbox_for(driver, stack.services.gateway.store_received, sim_id)
    result = await inbox.read([good, bad, 17])
    assert len(result.stored) == 1 and result.undecodable == 1
    assert [m.index for m in modem.storage] == [bad]
    assert await stored_texts(stack) == ["fine"]
