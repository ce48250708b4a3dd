"""Property over the whole receive path: a long SMS whose parts reach the modem in any order, read by the
inbox in any batching (AT+CMGR sets or an AT+CMGL sweep, with an inbox restart between batches), is stored
through the real store as exactly ONE message with exactly the original text, and the modem ends empty."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gatewayd.at.session import AtSession
from gatewayd.clock import SystemClock
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.fakemodem.network import encode_incoming
from gatewayd.modem.driver import ModemDriver
from gatewayd.modem.inbox import Inbox
from gatewayd.services.container import build_services
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade
from gatewayd.store.models import Message
from tests.modem.links import MemoryLink

IDENTITY = ModemIdentity.for_index(5)
# GSM-7 with extension characters (two septets each), Latin-1 outside GSM-7, BMP and astral (emoji) code
# points: split points can fall on an escape pair or inside a surrogate pair.
ALPHABET = st.sampled_from([*"abcXYZ019 .,@£$¥èé", *"{}[]~|€^\\", *"ñßøÅЖж中", "😀", "👋🏽", "🚀"])
TEXTS = st.lists(ALPHABET, min_size=170, max_size=420).map("".join)


@dataclass
class World:
    url: str
    senders: Iterator[int] = field(default_factory=lambda: itertools.count(1))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    path: Path = tmp_path_factory.mktemp("receive-property") / "simrelay.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(upgrade(url))
    return World(url)


async def receive(
    url: str, sender: str, text: str, order: list[int], cuts: list[int], *, sweep: bool
) -> None:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        services = build_services(sessions, SystemClock())
        modem = FakeModem(IDENTITY, echo=False)
        driver = ModemDriver(AtSession(), SystemClock(), on_unsolicited=lambda urc: None)
        MemoryLink(driver, modem)
        for command in ("AT+CMGF=0", "AT+CNMI=2,1,0,0,0"):
            await driver.run(command)
        modem_id = await services.gateway.modem_seen(imei=IDENTITY.imei, port="mem5", usb_path=None,
                                                     manufacturer="x", model="y", revision=None)  # fmt: skip
        sim_id = await services.gateway.sim_seen(modem_id=modem_id, iccid=IDENTITY.iccid, imsi=None,
                                                 phone_number=None, operator=None)  # fmt: skip
        pdus = encode_incoming(modem, sender, text)
        indexes = modem.deliver_pdus([pdus[i % len(pdus)] for i in order])
        boundaries = [0, *sorted({c % (len(indexes) + 1) for c in cuts}), len(indexes)]
        for start, end in itertools.pairwise(boundaries):
            # A new inbox for each batch, as after a restart of the daemon.
            inbox = Inbox(driver, services.gateway.store_received, hosted_sim_id=sim_id,
                          sim_key=IDENTITY.iccid, list_timeout_s=5, command_timeout_s=5)  # fmt: skip
            await inbox.read(indexes[start:end])
        if sweep:
            await inbox.sweep()
        assert modem.storage_used == 0
        async with sessions() as session:
            stored = list(await session.scalars(select(Message).where(Message.sender == sender)))
        assert [(m.text, m.status, m.segments) for m in stored] == [(text, "received", len(pdus))]
    finally:
        await engine.dispose()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, data=st.data())
def test_any_arrival_order_and_batching_gives_one_exact_message(
    world: World, text: str, data: st.DataObject
) -> None:
    parts = len(encode_incoming(FakeModem(IDENTITY), "+4915100000000", text))
    order = data.draw(st.permutations(range(parts)), label="arrival order")
    cuts = data.draw(st.lists(st.integers(0, parts), max_size=parts), label="batch cuts")
    sweep = data.draw(st.booleans(), label="sweep at the end")
    sender = f"+49151{next(world.senders):07d}"
    asyncio.run(receive(world.url, sender, text, order, cuts, sweep=sweep))
