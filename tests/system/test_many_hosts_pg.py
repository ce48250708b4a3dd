"""Many hosts on one PostgreSQL: two `simrelay gateway` processes (each driving its own emulated bank of 4
modems) and two `simrelay api` processes. 200 inbound SMS are visible through both APIs; a WebSocket client on
API #1 gets the events of SMS ingested by gateway #2; an SMS sent through API #2 leaves through the gateway
owning the SIM; 2 APIs × 50 lock attempts give one winner; gateway #1 SIGKILLed mid-burst has its SIMs shown
offline, its queued SMS wait, and after a restart nothing is lost, doubled or sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import SystemClock
from gatewayd.services.container import Services, build_services
from gatewayd.store.engine import create_engine, read_transaction, session_factory
from gatewayd.store.migrate import upgrade
from gatewayd.store.models import HostedSim
from tests.pg.conftest import require_postgres
from tests.store.databases import fresh_database
from tests.system.conftest import Process, free_port, poll_until, simrelay

pytestmark = pytest.mark.system

MODEMS_PER_BANK = 4
INBOUND = 200
OWNER = "owner@acme.example"
LOCKERS_PER_API = 50


@dataclass
class Cluster:
    url: str
    tmp: Path
    banks: list[Process]
    http: aiohttp.ClientSession
    api_urls: list[str]
    key: str = ""

    def control(self, bank: int) -> str:
        return str(self.banks[bank].banner["control_url"])

    def gateway_args(self, bank: int) -> list[str]:
        args = ["gateway", "--db", self.url, "--host-name", f"rack-{bank + 1}"]
        for modem in self.banks[bank].banner["modems"]:
            args += ["--modem", modem["path"]]
        return args

    async def get(self, api: int, path: str, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        async with self.http.get(f"{self.api_urls[api]}{path}", headers=headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(
        self, api: int, path: str, body: dict[str, Any], key: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        async with self.http.post(f"{self.api_urls[api]}{path}", json=body, headers=headers) as response:
            return response.status, await response.json()

    async def inbound_texts(self, api: int) -> list[str]:
        texts: list[str] = []
        for sim in (await self.get(api, "/api/sims"))["data"]:
            page = await self.get(api, f"/api/sims/{sim['id']}/messages?per_page=100")
            texts += [m["text"] for m in page["data"] if m["direction"] == "inbound"]
        return texts

    async def inject(self, bank: int, modem: int, text: str) -> None:
        body = {"from": "+4915100000001", "text": text}
        async with self.http.post(f"{self.control(bank)}/modems/{modem}/sms", json=body) as response:
            assert response.status == 201, await response.text()


def text_of(bank: int, number: int) -> str:
    return f"rack {bank + 1} sms #{number}"


async def sim_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with read_transaction(sessions) as session:  # what the gateways recorded
        return int(await session.scalar(select(func.count(HostedSim.id))) or 0)


@contextlib.asynccontextmanager
async def database(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, Services, async_sessionmaker[AsyncSession]]]:
    require_postgres()
    async with fresh_database("postgresql", tmp_path) as url:
        await upgrade(url)
        engine = create_engine(url)
        try:
            sessions = session_factory(engine)
            yield url, build_services(sessions, SystemClock()), sessions
        finally:
            await engine.dispose()


async def provision(services: Services, lockers: int) -> tuple[str, list[str]]:
    """acme owns every SIM; the owner's key with every permission, and `lockers` users with lock keys."""
    admin = services.admin
    await admin.create_organization("acme")
    await admin.create_team("acme", "ops")
    await admin.create_user("acme", email=OWNER, name="Owner", password=None, team="ops")
    await admin.assign_sims(org="acme", team="ops", all_unassigned=True)
    _, key = await admin.create_api_key(org="acme", user_email=OWNER, name="owner", permissions=[
        "numbers.read", "numbers.lock", "messages.read", "webhooks.receive"])  # fmt: skip
    keys = []
    for n in range(lockers):
        email = f"locker{n}@acme.example"
        await admin.create_user("acme", email=email, name=f"Locker {n}", password=None, team="ops")
        keys.append((await admin.create_api_key(org="acme", user_email=email, name="l",
                                                permissions=["numbers.read", "numbers.lock"]))[1])
    return key, keys


class Feed:
    """A Pusher-protocol WebSocket client on one API, subscribed to the owner's private user channel."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, cluster: Cluster, api: int) -> Feed:
        config = await cluster.get(api, "/api/websocket-config")
        user = await cluster.get(api, "/api/user")
        app_key = config.get("key") or config["data"]["key"]
        user_id = user["user"]["id"]
        ws = await cluster.http.ws_connect(f"{cluster.api_urls[api]}/app/{app_key}?protocol=7")
        established = json.loads((await ws.receive_json())["data"])
        channel = f"private-user.{user_id}"
        status, auth = await cluster.post(api, "/broadcasting/auth",
                                          {"socket_id": established["socket_id"], "channel_name": channel})
        assert status == 200, auth
        await ws.send_json({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth["auth"]}})
        reply = await ws.receive_json()
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        return cls(ws)

    async def collect(self, event: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout_s):
            while len([e for e in self.received if e["event"] == event]) < count:
                frame = await self.ws.receive_json()
                if frame["event"] == "pusher:ping":
                    await self.ws.send_json({"event": "pusher:pong", "data": {}})
                    continue
                self.received.append({"event": frame["event"], "data": json.loads(frame["data"])})
        return [e["data"] for e in self.received if e["event"] == event]


async def test_two_gateways_two_apis_one_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fast heartbeats so a killed gateway is noticed within a second or two of the test's clock.
    monkeypatch.setenv("SIMRELAY_GATEWAY_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("SIMRELAY_GATEWAY_HOST_STALE_AFTER_S", "2")
    async with contextlib.AsyncExitStack() as stack:
        url, services, sessions = await stack.enter_async_context(database(tmp_path))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        banks = []
        for bank in range(2):
            directory = tmp_path / f"bank{bank + 1}"
            directory.mkdir()
            banks.append(await stack.enter_async_context(simrelay(
                ["fakebank", "--count", str(MODEMS_PER_BANK), "--seed", str(bank + 1),
                 "--dir", str(directory / "ptys"), "--control", f"127.0.0.1:{free_port()}"],
                cwd=directory)))  # fmt: skip
        cluster = Cluster(url, tmp_path, banks, http, [])
        gateways: list[Process] = []
        for bank in range(2):
            (tmp_path / f"gw{bank + 1}").mkdir()
            gateways.append(await stack.enter_async_context(
                simrelay(cluster.gateway_args(bank), cwd=tmp_path / f"gw{bank + 1}")))
        (tmp_path / "api").mkdir()
        for _ in range(2):  # one after the other: they share var/ (realtime and webhook key files)
            api = await stack.enter_async_context(simrelay(
                ["api", "--db", url, "--listen", f"127.0.0.1:{free_port()}"], cwd=tmp_path / "api"))
            cluster.api_urls.append(str(api.banner["base_url"]))

        async def all_sims_seen() -> bool:
            return await sim_count(sessions) == 2 * MODEMS_PER_BANK

        await poll_until(all_sims_seen, timeout_s=60)
        cluster.key, locker_keys = await provision(services, 2 * LOCKERS_PER_API)
        sims = {sim["phone_number"]: sim for sim in (await cluster.get(0, "/api/sims"))["data"]}
        bank_sims = [[sims[m["phone_number"]]["id"] for m in bank.banner["modems"]] for bank in banks]
        feed = await Feed.open(cluster, 0)

        # 200 inbound: 100 per bank, 25 per modem, all at once.
        expected = [text_of(b, n) for b in range(2) for n in range(INBOUND // 2)]
        await asyncio.gather(*(cluster.inject(b, n % MODEMS_PER_BANK, text_of(b, n))
                               for b in range(2) for n in range(INBOUND // 2)))  # fmt: skip
        for api in range(2):
            async def seen_through(api: int = api) -> bool:
                return sorted(await cluster.inbound_texts(api)) == sorted(expected)

            await poll_until(seen_through, timeout_s=60)
        events = await feed.collect("message.received", INBOUND, timeout_s=30)
        from_gateway_2 = [e for e in events if e["hosted_sim_id"] in bank_sims[1]]
        assert sorted(e["message_text"] for e in from_gateway_2) == sorted(expected[INBOUND // 2:])

        # An SMS sent through API #2 to a SIM of gateway #1 leaves through bank #1's modem.
        target = bank_sims[0][0]
        status, lock = await cluster.post(1, f"/api/sims/{target}/lock", {})
        assert status == 201, lock
        status, sent = await cluster.post(1, f"/api/sims/{target}/messages",
                                          {"to": "+4915199999999", "text": "through API 2"})
        assert status == 202, sent

        async def submitted(bank: int, modem: int) -> list[dict[str, Any]]:
            async with http.get(f"{cluster.control(bank)}/modems/{modem}/sent") as response:
                return list((await response.json())["submitted"])

        async def left_bank_1() -> bool:
            return len(await submitted(0, 0)) == 1

        await poll_until(left_bank_1, timeout_s=30)
        assert [await submitted(1, m) for m in range(MODEMS_PER_BANK)] == [[]] * MODEMS_PER_BANK

        # Locks: 2 APIs × 50 users at once on one SIM → one 201, 99 × 409.
        contested = bank_sims[1][0]
        attempts = [cluster.post(n % 2, f"/api/sims/{contested}/lock", {}, key)
                    for n, key in enumerate(locker_keys)]  # fmt: skip
        results = [status for status, _ in await asyncio.gather(*attempts)]
        assert Counter(results) == Counter({201: 1, 409: 2 * LOCKERS_PER_API - 1})
        winner = locker_keys[results.index(201)]
        headers = {"Authorization": f"Bearer {winner}"}  # released, so the owner reads its messages again
        release = f"{cluster.api_urls[1]}/api/sims/{contested}/lock"
        async with http.delete(release, headers=headers) as response:
            assert response.status == 200, await response.text()

        # SIGKILL gateway #1 mid-burst: its SIMs show offline, an SMS queued meanwhile waits, the restart
        # stores every SMS once and sends the queued one once.
        burst = [text_of(0, n) for n in range(1000, 1100)]
        injecting = asyncio.gather(*(cluster.inject(0, n % MODEMS_PER_BANK, text)
                                     for n, text in enumerate(burst)))  # fmt: skip

        async def burst_under_way() -> bool:
            return len(await cluster.inbound_texts(0)) >= INBOUND + 10

        await poll_until(burst_under_way, timeout_s=30)
        gateways[0].proc.send_signal(signal.SIGKILL)  # mid-burst: the bank keeps receiving
        await gateways[0].proc.wait()
        await injecting

        async def rack_1_offline() -> bool:
            listed = (await cluster.get(1, "/api/sims"))["data"]
            return all(s["status"] == "offline" for s in listed if s["id"] in bank_sims[0])

        await poll_until(rack_1_offline, timeout_s=20)
        status, waiting = await cluster.post(1, f"/api/sims/{target}/messages",
                                             {"to": "+4915199999998", "text": "queued while rack 1 is down"})
        assert status == 202, waiting
        restarted = await stack.enter_async_context(simrelay(cluster.gateway_args(0), cwd=tmp_path / "gw1"))
        assert restarted.banner["host_name"] == "rack-1"

        async def everything_once() -> bool:
            texts = await cluster.inbound_texts(0)
            return Counter(texts) == Counter(expected + burst)

        await poll_until(everything_once, timeout_s=60)

        async def rack_1_back() -> bool:
            listed = (await cluster.get(0, "/api/sims"))["data"]
            statuses = [s["status"] for s in listed if s["id"] in bank_sims[0]]
            return len(statuses) == MODEMS_PER_BANK and "offline" not in statuses  # active, or locked

        await poll_until(rack_1_back, timeout_s=20)

        async def queued_one_left() -> bool:
            return len(await submitted(0, 0)) == 2

        await poll_until(queued_one_left, timeout_s=30)
        assert Counter(texts := await cluster.inbound_texts(1)) == Counter(expected + burst), len(texts)
        await feed.ws.close()

