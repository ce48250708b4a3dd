"""BYOS phones end to end in one process: OAuth token (scope byos) → register → Twilio verification signed
with Twilio's RequestValidator → heartbeat → SMS submission visible in /api/sims/{id}/messages; the offline
sweep on an injected clock with exactly one email to a local aiosmtpd server; scoping and validation."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from api.app import create_app
from api.settings import ApiSettings
from gatewayd.clock import ManualClock
from gatewayd.events import DeviceStatusChanged, LocalEventBus, MessageReceived
from gatewayd.services.container import Services, build_services
from gatewayd.services.device_views import ByosOptions
from gatewayd.services.notifications import SmtpOptions
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.models import Message
from tests.api.conftest import NOW, ClientFactory, Seeded
from tests.api.contract import ApiClient, Contract
from tests.services.world import oauth_tokens
from tests.system.conftest import free_port

TWILIO_NUMBER = "+12025551234"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SIM_NUMBER = "+14155550123"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        self.arrived.set()
        return "250 OK"



@dataclass
class Phone:
    api: ApiClient
    services: Services
    clock: ManualClock
    bus: LocalEventBus
    seeded: Seeded
    inbox: Inbox


@pytest.fixture
async def phone(
    seeded_database: tuple[Path, Seeded], tmp_path: Path, contract: Contract, aiohttp_client: ClientFactory
) -> AsyncIterator[Phone]:
    template, seeded = seeded_database
    copy = tmp_path / "api.db"
    shutil.copyfile(template, copy)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    engine = create_engine(f"sqlite+aiosqlite:///{copy}")
    clock, bus = ManualClock(NOW), LocalEventBus()
    services = build_services(
        session_factory(engine),
        clock,
        bus=bus,
        byos=ByosOptions(twilio_number=TWILIO_NUMBER, twilio_auth_token=TWILIO_TOKEN),
        smtp=SmtpOptions(host="127.0.0.1", port=smtp.port),
    )
    client: TestClient = await aiohttp_client(create_app(services, ApiSettings(), clock=clock))
    try:
        yield Phone(ApiClient(client, contract), services, clock, bus, seeded, inbox)
    finally:
        smtp.stop()
        await engine.dispose()


async def oauth_token(services: Services, scope: str = "byos", email: str = "owner@acme.example") -> str:
    """A token through the real grant code (service level: the browser part is tested in test_oauth)."""
    return (await oauth_tokens(services, email, scope))[0]


async def twilio_post(
    phone: Phone, form: dict[str, str], *, token: str = TWILIO_TOKEN, signature: str | None = "sign"
) -> tuple[int, str]:
    url = str(phone.api.raw.make_url("/api/webhooks/twilio/sms"))
    headers = {}
    if signature is not None:
        headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url, form)
    reply = await phone.api.call("POST", "/api/webhooks/twilio/sms", data=form, headers=headers)
    return reply.status, reply.body


def sms_form(body: str, sid: str, sender: str = SIM_NUMBER) -> dict[str, str]:
    return {
        "From": sender,
        "To": TWILIO_NUMBER,
        "Body": body,
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
    }


async def register(phone: Phone, token: str, slots: list[int] | None = None) -> dict[str, object]:
    reply = await phone.api.call(
        "POST",
        "/api/byos/devices",
        token,
        json={
            "android_id": "a1b2c3d4e5f67890",
            "sim_slots": slots or [1],
            "device_model": "SM-S921B",
            "app_version": "1.2.3",
            "device_name": "Work Phone",
        },
    )
    assert reply.status == 201, reply.body
    return dict(reply.body)


async def test_register_verify_heartbeat_submit_offline_and_one_email(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    events = phone.bus.subscribe()
    device = await register(phone, token, [1, 2])
    assert device["status"] == "pending_verification" and device["twilio_number"] == TWILIO_NUMBER
    cards = device["sim_cards"]
    assert isinstance(cards, list) and len(cards) == 2
    code = cards[0]["verification_code"]
    assert code.startswith("SR-") and not set(code[3:]) & set("01IOL")
    device_id = device["id"]

    status, body = await twilio_post(phone, sms_form(f"My code is {code.lower()}", "SM1"))
    assert status == 200 and body.endswith("<Response/>")
    shown = await phone.api.get(f"/api/byos/devices/{device_id}", token)
    assert shown.body["status"] == "active" and shown.body["phone_number"] == SIM_NUMBER
    sim_id = shown.body["sim_cards"][0]["hosted_sim_id"]
    assert isinstance(sim_id, int)
    assert (await twilio_post(phone, sms_form(f"My code is {code}", "SM1")))[0] == 200  # Twilio retry
    assert phone.services.twilio.outcomes["duplicate"] == 1

    beat = await phone.api.call(
        "POST",
        f"/api/byos/devices/{device_id}/heartbeat",
        token,
        json={"battery_level": 85, "signal_strength": 75},
    )
    assert beat.status == 200 and beat.body["next_heartbeat_in"] == 300

    message_id = str(uuid.uuid4())
    sms = {"from": "+19876543210", "body": "Your code is 123456 ✓", "message_id": message_id, "sim_slot": 1}
    for _ in range(2):  # idempotent on message_id
        sent = await phone.api.call("POST", f"/api/byos/devices/{device_id}/messages", token, json=sms)
        assert sent.status == 202 and sent.body["message_id"] == message_id
    messages = await phone.api.get(f"/api/sims/{sim_id}/messages", phone.seeded.acme_key)
    assert [m["text"] for m in messages.body["data"]] == ["Your code is 123456 ✓"]
    assert messages.body["data"][0]["from"] == "+19876543210" and messages.body["data"][0]["to"] == SIM_NUMBER

    phone.clock.advance(359)
    assert await phone.services.presence.sweep_offline() == []
    phone.clock.advance(1)
    assert await phone.services.presence.sweep_offline() == [device_id]
    assert (await phone.api.get(f"/api/byos/devices/{device_id}", token)).body["is_online"] is False
    assert not phone.inbox.messages  # one missed interval: no email yet
    phone.clock.advance(360)
    await phone.services.presence.sweep_offline()
    async with asyncio.timeout(10):
        await phone.inbox.arrived.wait()
    for _ in range(3):
        phone.clock.advance(360)
        await phone.services.presence.sweep_offline()
    assert len(phone.inbox.messages) == 1
    email = message_from_bytes(phone.inbox.messages[0])
    assert email["To"] == "owner@acme.example" and "offline" in email["Subject"]

    kinds = []
    events.close()
    async for event in events:
        kinds.append((type(event).__name__, getattr(event, "is_online", None)))
    assert ("MessageReceived", None) in kinds and kinds.count(("MessageReceived", None)) == 1
    online = [flag for name, flag in kinds if name == DeviceStatusChanged.__name__]
    assert online[-2:] == [True, False]
    assert MessageReceived.__name__ in {name for name, _ in kinds}


async def test_doze_mode_waits_960_seconds(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    device = await register(phone, token)
    await twilio_post(phone, sms_form(device["sim_cards"][0]["verification_code"], "SM2"))
    await phone.api.call(
        "POST", f"/api/byos/devices/{device['id']}/heartbeat", token, json={"is_in_doze_mode": True}
    )
    phone.clock.advance(959)
    assert await phone.services.presence.sweep_offline() == []
    phone.clock.advance(1)
    assert await phone.services.presence.sweep_offline() == [device["id"]]


async def test_bad_missing_and_foreign_signatures_are_refused(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    device = await register(phone, token)
    form = sms_form(device["sim_cards"][0]["verification_code"], "SM3")
    assert (await twilio_post(phone, form, signature=None))[0] == 403
    assert (await twilio_post(phone, form, token="someone else's token"))[0] == 403
    url = str(phone.api.raw.make_url("/api/webhooks/twilio/sms"))
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    tampered = await phone.api.call(
        "POST",
        "/api/webhooks/twilio/sms",
        data={**form, "From": "+15550000000"},
        headers={"X-Twilio-Signature": signature},
    )
    assert tampered.status == 403
    shown = await phone.api.get(f"/api/byos/devices/{device['id']}", token)
    assert shown.body["status"] == "pending_verification"


async def test_expired_and_unknown_codes_are_answered_alike_and_counted(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    device = await register(phone, token)
    card = device["sim_cards"][0]
    phone.clock.advance(301)
    assert await twilio_post(phone, sms_form(card["verification_code"], "SM4")) == (
        200,
        '<?xml version="1.0" encoding="UTF-8"?><Response/>',
    )
    assert await twilio_post(phone, sms_form("SR-ZZZZ", "SM5")) == (
        200,
        '<?xml version="1.0" encoding="UTF-8"?><Response/>',
    )
    assert phone.services.twilio.outcomes["expired_code"] == 1
    assert phone.services.twilio.outcomes["unknown_code"] == 1
    again = await phone.api.call(
        "POST", f"/api/byos/devices/{device['id']}/sim-cards/{card['id']}/verify", token
    )
    assert again.status == 200 and again.body["verification_code"] != card["verification_code"]
    await twilio_post(phone, sms_form(again.body["verification_code"], "SM6"))
    active = await phone.api.call(
        "POST", f"/api/byos/devices/{device['id']}/sim-cards/{card['id']}/verify", token
    )
    assert active.status == 422


async def test_scoping_disabled_devices_and_delete_keeps_messages(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    device = await register(phone, token)
    device_id = device["id"]
    await twilio_post(phone, sms_form(device["sim_cards"][0]["verification_code"], "SM7"))
    other_token = await oauth_token(phone.services)  # same user, another sign-in: not this device's token
    beat = await phone.api.call("POST", f"/api/byos/devices/{device_id}/heartbeat", other_token, json={})
    assert beat.status == 403
    globex = await oauth_token(phone.services, email="owner@globex.example")
    assert (await phone.api.get(f"/api/byos/devices/{device_id}", globex)).status == 404
    assert (await phone.api.get("/api/byos/devices", globex)).body["meta"]["total"] == 0
    listed = await phone.api.get("/api/byos/devices?status=active", token)
    assert [d["id"] for d in listed.body["data"]] == [device_id]

    sms = {"from": "+19876543210", "body": "hello", "message_id": str(uuid.uuid4())}
    assert (
        await phone.api.call("POST", f"/api/byos/devices/{device_id}/messages", token, json=sms)
    ).status == 202
    disabled = await phone.api.call("POST", f"/api/byos/devices/{device_id}/disable", token)
    assert disabled.body["status"] == "disabled"
    refused = await phone.api.call(
        "POST",
        f"/api/byos/devices/{device_id}/messages",
        token,
        json={**sms, "message_id": str(uuid.uuid4())},
    )
    assert refused.status == 403
    assert (await phone.api.call("POST", f"/api/byos/devices/{device_id}/enable", token)).body[
        "status"
    ] == "active"

    bad = await phone.api.call(
        "POST",
        f"/api/byos/devices/{device_id}/messages",
        token,
        json={"from": "x" * 21, "body": "b" * 1601, "message_id": "not-a-uuid", "sim_slot": 3},
    )
    assert bad.status == 422 and set(bad.body["errors"]) == {"from", "body", "message_id", "sim_slot"}

    sim_id = (await phone.api.get(f"/api/byos/devices/{device_id}", token)).body["sim_cards"][0][
        "hosted_sim_id"
    ]
    assert (await phone.api.call("DELETE", f"/api/byos/devices/{device_id}", token)).status == 200
    assert (await phone.api.get(f"/api/byos/devices/{device_id}", token)).status == 404
    assert (await phone.api.get(f"/api/sims/{sim_id}", phone.seeded.acme_key)).status == 404
    async with phone.services.oauth._sessions() as session:  # the message log survives, unlinked
        rows = (await session.execute(select(Message.hosted_sim_id).where(Message.text == "hello"))).all()
    assert rows == [(None,)]


async def test_update_syncs_the_phone_number_and_config_has_its_sections(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    device = await register(phone, token)
    await twilio_post(phone, sms_form(device["sim_cards"][0]["verification_code"], "SM8"))
    updated = await phone.api.call(
        "PUT",
        f"/api/byos/devices/{device['id']}",
        token,
        json={"phone_number": "+14155559999", "device_name": "Renamed"},
    )
    assert updated.status == 200 and updated.body["phone_number"] == "+14155559999"
    sim_id = updated.body["sim_cards"][0]["hosted_sim_id"]
    sim = await phone.api.get(f"/api/sims/{sim_id}", phone.seeded.acme_key)
    assert sim.body["phone_number"] == "+14155559999" and sim.body["type"] == "byos"
    config = await phone.api.get(f"/api/byos/devices/{device['id']}/config", token)
    assert set(config.body) == {"device", "intervals", "limits", "features", "metadata"}
    assert config.body["intervals"]["offline_after_seconds"] == 360


async def test_the_same_twilio_request_fired_concurrently_verifies_once(phone: Phone) -> None:
    token = await oauth_token(phone.services)
    device = await register(phone, token)
    events = phone.bus.subscribe()
    form = sms_form(device["sim_cards"][0]["verification_code"], "SM-concurrent")
    answers = await asyncio.gather(*(twilio_post(phone, form) for _ in range(6)))
    assert {status for status, _ in answers} == {200}
    outcomes = phone.services.twilio.outcomes
    assert outcomes["verified"] == 1 and outcomes["duplicate"] == 5
    events.close()
    announced = [event async for event in events if isinstance(event, DeviceStatusChanged)]
    assert [(event.device_id, event.status) for event in announced] == [(device["id"], "active")]
