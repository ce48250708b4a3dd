"""BYOS service rules not reached through HTTP: the offline sweep is idempotent and emails once per outage
(again after a recovery, and again on the next sweep when a send failed), verification codes (alphabet,
expiry at exactly the TTL), SMS idempotent on `message_id` per device, refusals for disabled and revoked
devices and for another token family."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from email import message_from_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from gatewayd.errors import Forbidden, ValidationFailed
from gatewayd.events import DeviceStatusChanged, LocalEventBus
from gatewayd.services.device_presence import EMAILS_FAILED, EMAILS_SENT, SWEEPS, WENT_OFFLINE, SimSignal
from gatewayd.services.sim_cards import VERIFICATION_ALPHABET, new_verification_code
from gatewayd.services.twilio import code_in
from gatewayd.store.engine import write_transaction
from gatewayd.store.models import Message
from gatewayd.store.models_byos import ByosDevice
from tests.services.byos_world import SIM_NUMBER, Byos, open_byos
from tests.services.conftest import Stack

TIMEOUT_S = 360  # ByosOptions defaults: offline after 360 s, the email after two missed timeouts
CODE_TTL_S = 300


@pytest.fixture
async def byos(stack: Stack) -> AsyncIterator[Byos]:
    async with open_byos(stack) as world:
        yield world


def statuses(bus_events: list[object]) -> list[tuple[int, bool, str]]:
    return [
        (event.device_id, event.is_online, event.status)
        for event in bus_events
        if isinstance(event, DeviceStatusChanged)
    ]


async def drained(bus: LocalEventBus, subscription: object) -> list[object]:
    subscription.close()  # type: ignore[attr-defined]
    return [event async for event in subscription]  # type: ignore[attr-defined]


async def test_sweep_marks_offline_once_and_announces_once(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    device = await byos.verified_device(principal)
    events = byos.bus.subscribe()
    byos.clock.advance(TIMEOUT_S - 1)
    assert await byos.services.presence.sweep_offline() == []
    byos.clock.advance(1)
    assert await byos.services.presence.sweep_offline() == [device.id]
    for _ in range(3):
        assert await byos.services.presence.sweep_offline() == []
    shown = await byos.services.devices.get(principal, device.id)
    assert shown.is_online is False and shown.status == "active"
    assert statuses(await drained(byos.bus, events)) == [(device.id, False, "active")]
    assert byos.services.presence.counts[WENT_OFFLINE] == 1
    assert byos.services.presence.counts[SWEEPS] == 5


async def test_one_email_per_outage_and_a_new_one_after_recovery(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    device = await byos.verified_device(principal)
    byos.clock.advance(TIMEOUT_S)
    await byos.services.presence.sweep_offline()
    assert byos.mailbox.accepted == []  # one missed interval: offline, no email yet
    byos.clock.advance(TIMEOUT_S)
    await byos.services.presence.sweep_offline()
    assert len(byos.mailbox.accepted) == 1
    for _ in range(4):
        byos.clock.advance(TIMEOUT_S)
        await byos.services.presence.sweep_offline()
    assert len(byos.mailbox.accepted) == 1
    email = message_from_bytes(byos.mailbox.accepted[0])
    assert email["To"] == "owner@acme.example" and "Work Phone is offline" in email["Subject"]

    events = byos.bus.subscribe()
    await byos.heartbeat(principal, device.id)  # back: the next outage gets its own email
    byos.clock.advance(2 * TIMEOUT_S)
    assert await byos.services.presence.sweep_offline() == [device.id]
    assert len(byos.mailbox.accepted) == 2
    assert statuses(await drained(byos.bus, events)) == [
        (device.id, True, "active"),
        (device.id, False, "active"),
    ]
    assert byos.services.presence.counts[EMAILS_SENT] == 2


async def test_a_refused_email_is_sent_again_by_the_next_sweep_and_only_once(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    await byos.verified_device(principal)
    byos.mailbox.refuse = 1
    byos.clock.advance(2 * TIMEOUT_S)
    await byos.services.presence.sweep_offline()
    assert byos.mailbox.refused == 1 and byos.mailbox.accepted == []
    assert byos.services.presence.counts[EMAILS_FAILED] == 1
    await byos.services.presence.sweep_offline()
    assert len(byos.mailbox.accepted) == 1
    for _ in range(3):
        await byos.services.presence.sweep_offline()
    assert len(byos.mailbox.accepted) == 1 and byos.services.presence.counts[EMAILS_SENT] == 1


async def test_doze_mode_and_devices_never_seen_or_not_active_are_left_alone(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    dozing = await byos.verified_device(principal, "0000000000000001")
    await byos.heartbeat(principal, dozing.id, doze=True)
    pending = await byos.register(principal, android_id="0000000000000002")  # never verified, never seen
    disabled = await byos.verified_device(principal, "0000000000000003")
    await byos.services.devices.set_enabled(principal, disabled.id, False)
    byos.clock.advance(TIMEOUT_S * 2)
    assert await byos.services.presence.sweep_offline() == []
    byos.clock.advance(960 - TIMEOUT_S * 2)
    assert await byos.services.presence.sweep_offline() == [dozing.id]
    assert (await byos.services.devices.get(principal, pending.id)).status == "pending_verification"
    assert len(byos.mailbox.accepted) == 0  # the dozing one has missed only one (long) interval


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_codes_use_the_unambiguous_alphabet_and_are_found_however_typed(data: st.DataObject) -> None:
    code = new_verification_code()
    assert len(code) == 7 and code.startswith("SR-") and set(code[3:]) <= set(VERIFICATION_ALPHABET)
    assert not set(VERIFICATION_ALPHABET) & set("01OIL")
    typed = data.draw(st.sampled_from([code, code.lower(), code.replace("-", " "), code.replace("-", "")]))
    prefix = data.draw(st.sampled_from(["", "My code is ", "code: "]))
    assert code_in(f"{prefix}{typed} thanks") == code


async def test_a_code_expires_at_exactly_its_ttl_and_reverify_renews_it(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    device = await byos.register(principal, slots=(1, 2))
    first, second = device.pending
    byos.clock.advance(CODE_TTL_S - 1)
    assert await byos.services.sim_cards.verify_code(first.verification_code, SIM_NUMBER) == "verified"
    byos.clock.advance(1)
    assert (
        await byos.services.sim_cards.verify_code(second.verification_code, "+14155550124") == "expired_code"
    )
    renewed = await byos.services.sim_cards.reverify(principal, device.id, second.id)
    assert renewed.verification_code != second.verification_code
    assert (
        await byos.services.sim_cards.verify_code(second.verification_code, "+14155550124") == "unknown_code"
    )
    assert await byos.services.sim_cards.verify_code(renewed.verification_code, "+14155550124") == "verified"
    with pytest.raises(ValidationFailed, match="already verified"):
        await byos.services.sim_cards.reverify(principal, device.id, second.id)
    shown = await byos.services.devices.get(principal, device.id)
    assert shown.status == "active" and [card.status for card in shown.sim_cards] == ["active", "active"]
    assert len({card.hosted_sim_id for card in shown.sim_cards}) == 2


async def test_message_id_is_idempotent_per_device(byos: Byos) -> None:
    principal = await byos.oauth_principal()
    one = await byos.verified_device(principal, "000000000000000a")
    other_principal = await byos.oauth_principal()
    two = await byos.verified_device(other_principal, "000000000000000b")
    message_id = str(uuid.uuid4())

    async def submit(who: object, device_id: int, mid: str) -> None:
        await byos.services.devices.submit_message(
            who,  # type: ignore[arg-type]
            device_id,
            sender="+19876543210",
            body="Your code is 123456",
            message_id=mid,
            received_at=None,
            sim_slot=1,
        )

    await submit(principal, one.id, message_id)
    await submit(principal, one.id, message_id.upper())  # the same UUID, however it is spelled
    await submit(other_principal, two.id, message_id)  # another device: its own message
    async with write_transaction(byos.stack.sessions) as session:
        rows = list(
            (
                await session.execute(
                    select(Message.hosted_sim_id, func.count())
                    .where(Message.text == "Your code is 123456")
                    .group_by(Message.hosted_sim_id)
                    .order_by(Message.hosted_sim_id)
                )
            ).all()
        )
    sims = sorted(card.hosted_sim_id for device in (one, two) for card in device.sim_cards)
    assert [tuple(row) for row in rows] == [(sims[0], 1), (sims[1], 1)]
    with pytest.raises(ValidationFailed, match="slot 2"):
        await byos.services.devices.submit_message(
            principal,
            one.id,
            sender="x",
            body="y",
            message_id=str(uuid.uuid4()),
            received_at=None,
            sim_slot=2,
        )


@pytest.mark.parametrize("status", ["disabled", "revoked"])
async def test_disabled_and_revoked_devices_cannot_submit(byos: Byos, status: str) -> None:
    principal = await byos.oauth_principal()
    device = await byos.verified_device(principal)
    async with write_transaction(byos.stack.sessions) as session:
        await session.execute(update(ByosDevice).where(ByosDevice.id == device.id).values(status=status))
    with pytest.raises(Forbidden, match=status):
        await byos.services.devices.submit_message(
            principal,
            device.id,
            sender="+19876543210",
            body="hello",
            message_id=str(uuid.uuid4()),
            received_at=None,
            sim_slot=None,
        )
    if status == "revoked":
        with pytest.raises(Forbidden, match="revoked"):
            await byos.services.devices.set_enabled(principal, device.id, True)


async def test_another_token_family_cannot_act_as_the_device_and_unknown_cards_are_refused(
    byos: Byos,
) -> None:
    principal = await byos.oauth_principal()
    device = await byos.verified_device(principal)
    stranger = await byos.oauth_principal()  # same user, another sign-in
    with pytest.raises(Forbidden, match="another device"):
        await byos.heartbeat(stranger, device.id)
    with pytest.raises(ValidationFailed, match="Unknown SIM card"):
        await byos.services.presence.heartbeat(
            principal,
            device.id,
            battery_level=None,
            signal_strength=None,
            is_in_doze_mode=False,
            sim_signals=[SimSignal(sim_card_id=999_999, signal_strength=10)],
        )
    card = device.sim_cards[0]
    await byos.services.presence.heartbeat(
        principal,
        device.id,
        battery_level=None,
        signal_strength=None,
        is_in_doze_mode=False,
        sim_signals=[SimSignal(sim_card_id=card.id, signal_strength=42)],
    )
    assert (await byos.services.devices.get(principal, device.id)).sim_cards[0].signal_strength == 42
