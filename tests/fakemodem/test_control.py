"""The bank's control API through aiohttp's test client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from gatewayd.clock import ManualClock
from gatewayd.fakemodem.bank import FakeBank
from gatewayd.fakemodem.control import create_control_app, start_control_server
from gatewayd.sms.pdu import Encoding, decode_deliver, encode_submit

# SMS-SUBMIT to +46708251358, "hellohello", 23-octet TPDU.
SUBMIT_HELLO = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def bank(tmp_path: Path) -> AsyncIterator[FakeBank]:
    async with FakeBank(2, tmp_path, storage_size=3, echo=False, clock=ManualClock().now) as started:
        for entry in started.modems:
            entry.modem.receive_data(b"AT+CNMI=2,1,0,0,0\r")
            entry.modem.data_to_send()
        yield started


@pytest.fixture
async def client(bank: FakeBank, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_control_app(bank))


async def test_list_modems(client: TestClient[Any, Any], bank: FakeBank) -> None:
    response = await client.get("/modems")
    assert response.status == 200
    modems = (await response.json())["modems"]
    assert [m["index"] for m in modems] == [0, 1]
    first = bank.modems[0].modem.identity
    assert {k: modems[0][k] for k in ("path", "imei", "iccid", "imsi", "phone_number")} == {
        "path": str(bank.modems[0].path),
        "imei": first.imei,
        "iccid": first.iccid,
        "imsi": first.imsi,
        "phone_number": first.phone_number,
    }
    assert (modems[0]["storage_used"], modems[0]["storage_total"]) == (0, 3)


async def test_inject_text_then_read_storage(client: TestClient[Any, Any]) -> None:
    response = await client.post("/modems/1/sms", json={"from": "+4915112345678", "text": "Grüße " * 30})
    assert response.status == 201
    assert await response.json() == {"parts": 2, "indexes": [1, 2]}
    storage = await (await client.get("/modems/1/storage")).json()
    assert (storage["used"], storage["total"]) == (2, 3)
    parts = [decode_deliver(m["pdu"]) for m in storage["messages"]]
    assert [m["status"] for m in storage["messages"]] == [0, 0]
    assert "".join(p.text or "" for p in parts) == "Grüße " * 30
    assert {p.concat.reference for p in parts if p.concat} == {0}


async def test_inject_binary_with_reference_and_encoding(client: TestClient[Any, Any]) -> None:
    data = bytes(range(10))
    body = {"from": "Bank", "data_base64": base64.b64encode(data).decode(), "reference": 9}
    assert (await client.post("/modems/0/sms", json=body)).status == 201
    body = {"from": "12345", "text": "hi", "encoding": "ucs2"}
    assert await (await client.post("/modems/0/sms", json=body)).json() == {"parts": 1, "indexes": [2]}
    stored = await (await client.get("/modems/0/storage")).json()
    binary, text = (decode_deliver(m["pdu"]) for m in stored["messages"])
    assert (binary.encoding, binary.data, binary.sender) == (Encoding.BINARY, data, "Bank")
    assert (text.encoding, text.text) == (Encoding.UCS2, "hi")


async def test_storage_full_holds_parts(client: TestClient[Any, Any]) -> None:
    response = await client.post("/modems/0/sms", json={"from": "+4915112345678", "text": "y" * 600})
    assert await response.json() == {"parts": 4, "indexes": [1, 2, 3]}
    described = await (await client.get("/modems/0")).json()
    assert (described["storage_used"], described["held_by_network"]) == (3, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x"}, "from"),
        ({"from": "+49 151 123", "text": "x"}, "from"),
        ({"from": "TooLongSenderName", "text": "x"}, "from"),
        ({"from": "+49151"}, "text"),
        ({"from": "+49151", "text": "x", "data_base64": "eA=="}, "text"),
        ({"from": "+49151", "text": ""}, "text"),
        ({"from": "+49151", "data_base64": "not base64!"}, "data_base64"),
        ({"from": "+49151", "text": "x", "encoding": "latin1"}, "encoding"),
        ({"from": "+49151", "text": "x", "reference": 256}, "reference"),
        ({"from": "+49151", "text": "x", "reference": True}, "reference"),
        ({"from": "+49151", "text": "😀", "encoding": "gsm7"}, "encoding"),
        ([1, 2], "body"),
    ],
)
async def test_bad_sms_input_is_422_naming_the_field(
    client: TestClient[Any, Any], body: object, field: str
) -> None:
    response = await client.post("/modems/0/sms", json=body)
    assert response.status == 422
    answer = await response.json()
    assert field in answer["errors"] and answer["message"] == answer["errors"][field][0]


async def test_malformed_json_is_422(client: TestClient[Any, Any]) -> None:
    response = await client.post("/modems/0/sms", data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status == 422


@pytest.mark.parametrize("path", ["/modems/2/storage", "/modems/x/sent", "/modems/-1/storage"])
async def test_unknown_modem_is_404(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert "message" in await response.json()


async def test_sent_lists_what_the_daemon_submitted(client: TestClient[Any, Any], bank: FakeBank) -> None:
    bank.modems[1].modem.receive_data(f"AT+CMGS=23\r{SUBMIT_HELLO}\x1a".encode())
    sent = await (await client.get("/modems/1/sent")).json()
    assert sent == {"submitted": [{"mr": 0, "pdu": SUBMIT_HELLO}]}
    assert await (await client.get("/modems/0/sent")).json() == {"submitted": []}


async def test_unplug_and_replug(client: TestClient[Any, Any], bank: FakeBank) -> None:
    unplugged = await (await client.post("/modems/1/unplug")).json()
    assert unplugged["plugged"] is False and not bank.modems[1].path.is_symlink()
    replugged = await (await client.post("/modems/1/replug")).json()
    assert replugged["plugged"] is True and bank.modems[1].path.is_symlink()


async def test_runner_helper_serves_on_a_free_port(bank: FakeBank) -> None:
    server = await start_control_server(bank, "127.0.0.1", 0)
    try:
        async with ClientSession() as session, session.get(f"{server.url}/modems") as response:
            assert len((await response.json())["modems"]) == 2
    finally:
        await server.close()


async def test_delivery_report_for_a_sent_message(client: TestClient[Any, Any], bank: FakeBank) -> None:
    modem = bank.modems[0].modem
    submit = encode_submit("+46708251358", "report me", concat_reference=0, status_report=True)[0]
    modem.receive_data(f"AT+CNMI=2,1,0,1,0\rAT+CMGS={submit.tpdu_length}\r{submit.pdu_hex}\x1a".encode())
    modem.data_to_send()
    response = await client.post("/modems/0/sent/0/report", json={"status": 0})
    assert await response.json() == {"reported": True}
    assert (await client.post("/modems/0/sent/7/report")).status == 404
    assert (await client.post("/modems/0/sent/0/report", json={"status": 300})).status == 422
