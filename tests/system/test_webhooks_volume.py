"""1,000 inbound SMS on 8 emulated modems of a real `simrelay serve --simulate 8`: exactly 1,000
`message.inbound` deliveries to each matching integration (signed, each event once, bodies naming the
right SIM, sender, recipient and text) and none to an integration mapped to a team without the SIMs."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.system.conftest import poll_until, simrelay
from tests.system.webhook_rig import Api, Receiver, admin, delivery_rows, new_layout, team_with_every_sim

pytestmark = pytest.mark.system

MODEMS = 8
MESSAGES = 1000
INJECTING_AT_ONCE = 32


def text_of(number: int) -> str:
    # GSM-7, UCS-2 and an emoji, all single-part: the count of deliveries is the count of messages.
    return (f"#{number} code {number * 7919 % 1_000_000:06d}", f"#{number} Grüße текст", f"#{number} 👋")[
        number % 3
    ]


async def test_a_thousand_inbound_sms_give_a_thousand_deliveries_per_matching_integration(
    tmp_path: Path,
) -> None:
    layout = new_layout(tmp_path, MODEMS)
    receiver = Receiver()
    await receiver.start()
    try:
        async with simrelay(layout.serve_args(), cwd=tmp_path) as daemon, aiohttp.ClientSession() as http:
            api = Api(http, daemon.banner["base_url"], daemon.banner["admin_api_key"])
            team_id, sims = await team_with_every_sim(layout, api, "ops")
            other_team = int(
                (await admin(layout, "team", "create", "--org", "Simulation", "idle"))["team"]["id"]
            )
            first = await api.integration(receiver, "/first", team_id)
            second = await api.integration(receiver, "/second", team_id)
            unmapped = await api.integration(receiver, "/unmapped", other_team)

            control = daemon.banner["control_url"]
            async with http.get(f"{control}/modems") as reply:
                modems = (await reply.json())["modems"]
            sim_of_iccid = {sim["iccid"]: sim for sim in sims}
            sim_of_modem = [sim_of_iccid[modem["iccid"]] for modem in modems]
            expected: Counter[tuple[int, str, str | None, str]] = Counter()
            gate = asyncio.Semaphore(INJECTING_AT_ONCE)

            async def inject(number: int) -> None:
                sim = sim_of_modem[number % MODEMS]
                sender = f"+49151{number:08d}"
                expected[(sim["id"], sender, sim["phone_number"], text_of(number))] += 1
                async with (
                    gate,
                    http.post(
                        f"{control}/modems/{number % MODEMS}/sms",
                        json={"from": sender, "text": text_of(number)},
                    ) as reply,
                ):
                    assert reply.status == 201, await reply.text()

            await asyncio.gather(*(inject(n) for n in range(MESSAGES)))
            await receiver.wait_for("/first", MESSAGES, timeout_s=60)
            await receiver.wait_for("/second", MESSAGES, timeout_s=30)

            async def all_settled() -> bool:
                rows = delivery_rows(layout.db_file, first) + delivery_rows(layout.db_file, second)
                return len(rows) == 2 * MESSAGES and all(status == "delivered" for _, status, _ in rows)

            await poll_until(all_settled, timeout_s=20, interval_s=0.1)

        assert receiver.bad == []
        for path in ("/first", "/second"):
            ids = receiver.event_ids(path)
            assert len(ids) == MESSAGES and set(ids.values()) == {1}, "an event delivered twice"
            bodies = [a["body"] for a in receiver.answered if a["path"] == path]
            assert {b["event"] for b in bodies} == {"message.inbound"}
            got = Counter(
                (b["data"]["hosted_sim_id"], b["data"]["from"], b["data"]["to"], b["data"]["body"])
                for b in bodies
            )
            assert got == expected
        assert len({a["body"]["data"]["message_id"] for a in receiver.answered}) == MESSAGES
        assert receiver.event_ids("/unmapped") == Counter()
        assert delivery_rows(layout.db_file, unmapped) == []  # nothing was even queued for it
    finally:
        await receiver.close()
