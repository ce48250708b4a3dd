"""The Twilio webhook's use case: the same MessageSid delivered concurrently verifies once (one commit, one
announcement, the rest answered as duplicates), every outcome is recorded and counted, and signatures are
checked with Twilio's own RequestValidator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from gatewayd.events import DeviceStatusChanged
from gatewayd.store.engine import read_transaction
from gatewayd.store.models_byos import TwilioInbound
from tests.services.byos_world import SIM_NUMBER, TWILIO_NUMBER, TWILIO_TOKEN, Byos, open_byos
from tests.services.conftest import Stack

CONCURRENT_RETRIES = 8
URL = "https://gw.example/api/webhooks/twilio/sms"


@pytest.fixture
async def byos(stack: Stack) -> AsyncIterator[Byos]:
    async with open_byos(stack) as world:
        yield world


def sms_form(body: str, sid: str, sender: str = SIM_NUMBER) -> dict[str, str]:
    return {
        "From": sender,
        "To": TWILIO_NUMBER,
        "Body": body,
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
    }


async def inbound_rows(byos: Byos) -> list[tuple[str, str, int | None]]:
    async with read_transaction(byos.stack.sessions) as session:
        rows = await session.execute(
            select(TwilioInbound.message_sid, TwilioInbound.outcome, TwilioInbound.sim_card_id).order_by(
                TwilioInbound.message_sid
            )
        )
        return [(sid, outcome, card) for sid, outcome, card in rows.all()]


async def test_the_same_message_sid_fired_concurrently_verifies_once(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    device = await byos.register(principal)
    card = device.pending[0]
    events = byos.bus.subscribe()
    form = sms_form(f"My code is {card.verification_code}", "SM0123456789abcdef")
    outcomes = await asyncio.gather(*(byos.services.twilio.receive(form) for _ in range(CONCURRENT_RETRIES)))
    assert Counter(outcomes) == {"verified": 1, "duplicate": CONCURRENT_RETRIES - 1}
    assert byos.services.twilio.outcomes == Counter(outcomes)
    assert await inbound_rows(byos) == [("SM0123456789abcdef", "verified", card.id)]
    events.close()
    announced = [event async for event in events if isinstance(event, DeviceStatusChanged)]
    assert len(announced) == 1 and announced[0].status == "active"
    shown = await byos.services.devices.get(principal, device.id)
    assert shown.status == "active" and shown.sim_cards[0].phone_number == SIM_NUMBER


async def test_every_outcome_is_recorded_once_and_counted(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    device = await byos.register(principal, slots=(1, 2))
    first, second = device.pending
    twilio = byos.services.twilio
    assert await twilio.receive(sms_form("hello there", "SM1")) == "no_code"
    assert (
        await twilio.receive(sms_form(first.verification_code, "SM2", sender="not a number")) == "bad_sender"
    )
    assert await twilio.receive(sms_form("SR-ZZZZ", "SM3")) == "unknown_code"
    byos.clock.advance(300)
    assert await twilio.receive(sms_form(first.verification_code, "SM4")) == "expired_code"
    renewed = await byos.services.sim_cards.reverify(principal, device.id, second.id)
    assert await twilio.receive(sms_form(renewed.verification_code, "SM5")) == "verified"
    assert await twilio.receive(sms_form(renewed.verification_code, "SM5")) == "duplicate"
    assert await inbound_rows(byos) == [
        ("SM1", "no_code", None),
        ("SM2", "bad_sender", None),
        ("SM3", "unknown_code", None),
        ("SM4", "expired_code", first.id),
        ("SM5", "verified", second.id),
    ]
    assert twilio.outcomes == {
        "no_code": 1,
        "bad_sender": 1,
        "unknown_code": 1,
        "expired_code": 1,
        "verified": 1,
        "duplicate": 1,
    }


def test_signatures_are_checked_with_twilios_validator_and_refusals_counted(byos: Byos) -> None:
    twilio = byos.services.twilio
    form = sms_form("SR-ABCD", "SM9")
    good = RequestValidator(TWILIO_TOKEN).compute_signature(URL, form)
    assert twilio.signature_valid(URL, form, good)
    assert not twilio.signature_valid(URL, form, None)
    assert not twilio.signature_valid(
        URL, form, RequestValidator("another token").compute_signature(URL, form)
    )
    assert not twilio.signature_valid(URL, {**form, "Body": "SR-WXYZ"}, good)
    assert not twilio.signature_valid(URL.replace("gw.", "evil."), form, good)
    assert twilio.outcomes["bad_signature"] == 4
