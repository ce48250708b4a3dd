"""BYOS end to end against a real `simrelay serve` process: a byos OAuth token through the real PKCE flow
(sign-in and consent pages, Authlib's client) → register → Twilio verification signed with Twilio's own
RequestValidator over the configured public URL → heartbeat → SMS submission that shows up in
/api/sims/{id}/messages, at a signed webhook receiver and as `message.received` on the owner's private
WebSocket channel → heartbeats stop → `device.status` offline and exactly one email to a local aiosmtpd.

Short timeouts come from the daemon's TOML ([byos] offline after 2 s, a sweep every 0.1 s); every wait is
on a frame, a delivery, an email or a counter under a deadline, and "exactly one email" is checked after
the daemon's own sweep counter (/metrics) shows five more sweeps past the first email.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiosmtpd.controller import Controller
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from tests.api.test_oauth import OWNER, PASSWORD, Browser
from tests.system.conftest import free_port, poll_until, simrelay
from tests.system.webhook_rig import Api, Layout, Receiver, admin

pytestmark = pytest.mark.system

APP_ID, APP_KEY, APP_SECRET = "313373", "byos-e2e-key", "byos-e2e-secret-0123456789"
TWILIO_NUMBER = "+12025551234"
TWILIO_TOKEN = "twilio-token-for-the-system-test"
PUBLIC_URL = "https://gw.example.test"  # what Twilio would call behind a proxy: the URL that is signed
SIM_NUMBER = "+14155550123"
REDIRECT = "http://127.0.0.1/callback"
OFFLINE_AFTER_S = 2
WAIT_S = 20.0


@dataclass
class Mailbox:
    """aiosmtpd handler; its thread hands each message to the test's loop."""

    loop: asyncio.AbstractEventLoop
    messages: list[bytes] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(envelope.content)  # type: ignore[attr-defined]
        self.loop.call_soon_threadsafe(self.arrived.set)
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


class Frames:
    """Every frame of one Pusher connection, read by one task; waits are on a condition with a deadline."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is not WSMsgType.TEXT:
                break
            async with self._changed:
                self.frames.append(json.loads(message.data))
                self._changed.notify_all()

    async def first(
        self, match: Callable[[dict[str, Any]], bool], timeout_s: float = WAIT_S
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: any(match(frame) for frame in self.frames))
            return next(frame for frame in self.frames if match(frame))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(frame["data"]) for frame in self.frames if frame.get("event") == name]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def write_config(root: Path, smtp_port: int) -> Layout:
    (root / "simrelay.toml").write_text(
        "[webhooks]\nallow_private_networks = true\nallow_http = true\n"
        f'state_dir = "{root / "state"}"\n'
        f'[realtime]\napp_id = "{APP_ID}"\napp_key = "{APP_KEY}"\napp_secret = "{APP_SECRET}"\n'
        f'state_dir = "{root / "state"}"\n'
        f'[byos]\ntwilio_number = "{TWILIO_NUMBER}"\ntwilio_auth_token = "{TWILIO_TOKEN}"\n'
        f'public_url = "{PUBLIC_URL}"\nheartbeat_interval_s = 1\noffline_after_s = {OFFLINE_AFTER_S}\n'
        "doze_offline_after_s = 10\nalert_after_missed = 2\nsweep_interval_s = 0.1\n"
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
    )
    return Layout(root, 1, free_port(), free_port())


def pkce_token(server_url: str, client_id: str) -> str:
    """Authlib's OAuth2Session through our sign-in and consent pages (blocking: run in a thread)."""
    session = OAuth2Session(client_id=client_id, redirect_uri=REDIRECT, scope="byos",
                            code_challenge_method="S256", token_endpoint_auth_method="none")  # fmt: skip
    verifier = generate_token(64)
    url, state = session.create_authorization_url(server_url + "/oauth/authorize", code_verifier=verifier)
    answer = Browser(server_url).sign_in_and_consent(url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert parse_qs(urlsplit(location).query)["state"] == [state]
    token = session.fetch_token(server_url + "/oauth/token", authorization_response=location,
                                code_verifier=verifier)  # fmt: skip
    return str(token["access_token"])


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[Mailbox, int]]:
    mailbox = Mailbox(asyncio.get_running_loop())
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    await asyncio.to_thread(controller.start)
    try:
        yield mailbox, controller.port
    finally:
        await asyncio.to_thread(controller.stop)


async def counters(http: aiohttp.ClientSession, base_url: str) -> dict[tuple[str, str], float]:
    async with http.get(f"{base_url}/metrics") as reply:
        text = await reply.text()
    return {
        (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def subscribe_to_user_channel(http: aiohttp.ClientSession, api: Api, user_id: int) -> Frames:
    ws_url = api.base_url.replace("http://", "ws://") + f"/app/{APP_KEY}?protocol=7&client=js&version=8.4.0"
    frames = Frames(await http.ws_connect(ws_url))
    established = await frames.first(lambda frame: frame.get("event") == "pusher:connection_established")
    socket_id = json.loads(established["data"])["socket_id"]
    channel = f"private-user.{user_id}"
    auth = await api.call("POST", "/broadcasting/auth", {"socket_id": socket_id, "channel_name": channel})
    await frames.ws.send_str(json.dumps({"event": "pusher:subscribe",
                                         "data": {"channel": channel, "auth": auth["auth"]}}))  # fmt: skip
    await frames.first(lambda frame: frame.get("event") == "pusher_internal:subscription_succeeded")
    return frames


async def twilio_post(http: aiohttp.ClientSession, base_url: str, form: dict[str, str], token: str) -> int:
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + "/api/webhooks/twilio/sms", form)
    async with http.post(f"{base_url}/api/webhooks/twilio/sms", data=form,
                         headers={"X-Twilio-Signature": signature}) as reply:  # fmt: skip
        body = await reply.text()
        if reply.status == 200:
            assert reply.content_type == "text/xml" and body.endswith("<Response/>"), body
        return reply.status


async def test_register_verify_heartbeat_submit_then_offline_with_one_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # Authlib's client over the loopback http server
    receiver = Receiver()
    await receiver.start()
    async with smtp_server() as (mailbox, smtp_port):
        layout = write_config(tmp_path, smtp_port)
        try:
            async with simrelay(layout.serve_args(), cwd=tmp_path) as daemon, aiohttp.ClientSession() as http:
                await run_scenario(layout, daemon.banner["base_url"], http, receiver, mailbox)
        finally:
            await receiver.close()
    assert receiver.bad == []


async def run_scenario(
    layout: Layout, base_url: str, http: aiohttp.ClientSession, receiver: Receiver, mailbox: Mailbox
) -> None:
    team, client = await asyncio.gather(
        admin(layout, "team", "create", "--org", "Simulation", "phones"),
        admin(layout, "oauth-client", "create", "--name", "SimRelay app", "--redirect-uri", REDIRECT,
              "--public"),  # fmt: skip
    )
    team_id = int(team["team"]["id"])
    owner = await admin(layout, "user", "create", "--org", "Simulation", "--team", "phones",
                        "--email", OWNER, "--name", "Phone owner", "--password", PASSWORD)  # fmt: skip
    key = await admin(layout, "api-key", "create", "--org", "Simulation", "--user", OWNER, "--name", "e2e",
                      "--permissions", "numbers.read,messages.read,webhooks.receive")  # fmt: skip
    api = Api(http, base_url, key["plain_text_key"])
    await api.integration(receiver, "/phones", team_id)
    frames = await subscribe_to_user_channel(http, api, int(owner["user"]["id"]))
    try:
        token = await asyncio.to_thread(pkce_token, base_url, client["client_id"])
        phone = Api(http, base_url, token)
        device = await phone.call("POST", "/api/byos/devices", {
            "android_id": "a1b2c3d4e5f67890", "sim_slots": [1], "device_model": "SM-S921B",
            "app_version": "1.2.3", "device_name": "Work Phone"}, expect=201)  # fmt: skip
        code = device["sim_cards"][0]["verification_code"]
        form = {"From": SIM_NUMBER, "To": TWILIO_NUMBER, "Body": f"My code is {code}",
                "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32}  # fmt: skip
        assert await twilio_post(http, base_url, form, "not the configured token") == 403
        assert await twilio_post(http, base_url, form, TWILIO_TOKEN) == 200
        assert await twilio_post(http, base_url, form, TWILIO_TOKEN) == 200  # a Twilio retry: no effect
        shown = await phone.call("GET", f"/api/byos/devices/{device['id']}")
        assert shown["status"] == "active" and shown["phone_number"] == SIM_NUMBER
        sim_id = shown["sim_cards"][0]["hosted_sim_id"]

        beat = await phone.call("POST", f"/api/byos/devices/{device['id']}/heartbeat", {"battery_level": 90})
        assert beat["next_heartbeat_in"] == 1
        await frames.first(lambda f: f.get("event") == "device.status" and json.loads(f["data"])["is_online"])
        sms = {"from": "+19876543210", "body": "Hello from the phone ✓", "message_id": str(uuid.uuid4()),
               "sim_slot": 1}  # fmt: skip
        await phone.call("POST", f"/api/byos/devices/{device['id']}/messages", sms, expect=202)

        async def listed() -> list[dict[str, Any]]:
            page = await api.call("GET", f"/api/sims/{sim_id}/messages")
            return list(page["data"])

        messages = await poll_until(listed, timeout_s=WAIT_S)
        assert [(m["text"], m["from"], m["to"]) for m in messages] == [(sms["body"], sms["from"], SIM_NUMBER)]
        received = await frames.first(lambda f: f.get("event") == "message.received")
        assert json.loads(received["data"])["message_text"] == sms["body"]
        await receiver.wait_for("/phones", 1, timeout_s=WAIT_S)
        assert sms["body"] in json.dumps(receiver.answered[0]["body"], ensure_ascii=False)

        # Heartbeats stop: offline after 2 s (announced), one email after two missed timeouts.
        offline = await frames.first(
            lambda f: f.get("event") == "device.status" and not json.loads(f["data"])["is_online"]
        )
        assert json.loads(offline["data"])["device_id"] == device["id"]
        async with asyncio.timeout(WAIT_S):
            await mailbox.arrived.wait()
        at_email = (await counters(http, base_url))[("simrelay_byos_offline_sweeps_total", "")]

        async def five_more_sweeps() -> bool:
            now = (await counters(http, base_url))[("simrelay_byos_offline_sweeps_total", "")]
            return now >= at_email + 5

        await poll_until(five_more_sweeps, timeout_s=WAIT_S)
        assert mailbox.count() == 1
        email = message_from_bytes(mailbox.messages[0])
        assert email["To"] == OWNER and "Work Phone is offline" in email["Subject"]
        statuses = [event["is_online"] for event in frames.events("device.status")]
        assert statuses[statuses.index(True) :] == [True, False]  # online once, then offline once
        seen = await counters(http, base_url)
        assert seen[("simrelay_twilio_webhooks_total", "outcome=verified")] == 1
        assert seen[("simrelay_twilio_webhooks_total", "outcome=duplicate")] == 1
        assert seen[("simrelay_twilio_webhooks_total", "outcome=bad_signature")] == 1
        assert seen[("simrelay_byos_offline_emails_total", "result=sent")] == 1
    finally:
        await frames.close()
