"""The signed Pusher HTTP API, /api/websocket-config and /broadcasting/auth, through the contract checker."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from api.pusher import protocol
from tests.api.conftest import World
from tests.api.pusher.conftest import APP_ID, APP_KEY, APP_SECRET, Feed


def signed(method: str, path: str, body: bytes = b"", **extra: str) -> str:
    params = {"auth_key": APP_KEY, "auth_timestamp": str(int(time.time())), "auth_version": "1.0", **extra}
    if body:
        params["body_md5"] = protocol.body_md5(body)
    params["auth_signature"] = protocol.request_signature(APP_SECRET, method, path, params)
    return f"{path}?{urlencode(params)}"


async def post_event(feed: Feed, event: dict[str, Any], app_id: str = APP_ID, tamper: bool = False) -> Any:
    body = json.dumps(event).encode()
    url = signed("POST", f"/apps/{app_id}/events", body)
    sent = body.replace(b"hello", b"HELLO") if tamper else body
    return await feed.api.call("POST", url, data=sent, headers={"Content-Type": "application/json"})


async def test_signed_trigger_reaches_subscribers_except_the_excluded_socket(feed: Feed) -> None:
    listener, excluded = await feed.connect(), await feed.connect()
    for client in (listener, excluded):
        await client.send("pusher:subscribe", {"channel": "news"})
        await client.until("pusher_internal:subscription_succeeded")
    reply = await post_event(feed, {"name": "story", "channels": ["news"], "data": '{"text":"hello"}',
                                    "socket_id": excluded.socket_id})
    assert (reply.status, reply.body) == (200, {})
    assert await listener.frame() == {"event": "story", "channel": "news", "data": '{"text":"hello"}'}
    await excluded.send("pusher:ping", {})
    assert await excluded.frame() == {"event": "pusher:pong"}


async def test_trigger_refusals(feed: Feed) -> None:
    event = {"name": "story", "channel": "news", "data": "hello"}
    assert (await post_event(feed, event, tamper=True)).status == 401  # body_md5 no longer matches
    assert (await post_event(feed, event, app_id="999")).status == 404
    assert (await post_event(feed, {"name": "story", "channels": []})).status == 422
    unsigned = await feed.api.call("POST", f"/apps/{APP_ID}/events", json=event)
    assert unsigned.status == 401
    stale = signed("POST", f"/apps/{APP_ID}/events", json.dumps(event).encode(), auth_timestamp="1000")
    assert (await feed.api.call("POST", stale, data=json.dumps(event))).status == 401


async def test_batch_events_are_all_validated_before_any_is_published(feed: Feed) -> None:
    client = await feed.connect()
    await client.send("pusher:subscribe", {"channel": "news"})
    await client.until("pusher_internal:subscription_succeeded")
    bad = json.dumps({"batch": [{"name": "a", "channel": "news", "data": "1"}, {"name": "b"}]}).encode()
    reply = await feed.api.call("POST", signed("POST", f"/apps/{APP_ID}/batch_events", bad), data=bad)
    assert reply.status == 422
    good = json.dumps({"batch": [{"name": "a", "channel": "news", "data": "1"},
                                 {"name": "b", "channel": "news", "data": "2"}]}).encode()
    reply = await feed.api.call("POST", signed("POST", f"/apps/{APP_ID}/batch_events", good), data=good)
    assert reply.status == 200
    assert [(await client.frame())["event"] for _ in range(2)] == ["a", "b"]


async def test_channel_queries(feed: Feed) -> None:
    client = await feed.connect()
    member = '{"user_id":"7","user_info":{}}'
    auth = protocol.channel_auth(APP_KEY, APP_SECRET, client.socket_id, "presence-room", member)
    await client.send("pusher:subscribe", {"channel": "presence-room", "channel_data": member, "auth": auth})
    await client.until("pusher_internal:subscription_succeeded")
    channels = await feed.api.get(signed("GET", f"/apps/{APP_ID}/channels", info="user_count"))
    assert channels.body == {"channels": {"presence-room": {"user_count": 1}}}
    one = await feed.api.get(signed("GET", f"/apps/{APP_ID}/channels/presence-room"))
    assert one.body == {"occupied": True, "subscription_count": 1, "user_count": 1}
    users = await feed.api.get(signed("GET", f"/apps/{APP_ID}/channels/presence-room/users"))
    assert users.body == {"users": [{"id": "7"}]}
    empty = await feed.api.get(signed("GET", f"/apps/{APP_ID}/channels/nobody-here"))
    assert empty.body["occupied"] is False


async def test_websocket_config_reports_the_public_endpoint(feed: Feed, world: World) -> None:
    reply = await feed.api.get("/api/websocket-config", world.seeded.acme_key)
    assert reply.status == 200
    assert reply.body["key"] == APP_KEY
    endpoint = (reply.body["ws_host"], reply.body["ws_port"], reply.body["ws_scheme"])
    assert endpoint == ("gw.example", 8080, "http")
    assert reply.body["ws_url"] == "ws://gw.example:8080"
    assert reply.body["auth_endpoint"].endswith("/broadcasting/auth")
    assert reply.body["auth_endpoint"].startswith("http")
    assert APP_SECRET not in json.dumps(reply.body)


async def user_id_of(feed: Feed, token: str) -> int:
    user_id: int = (await feed.api.get("/api/user", token)).body["user"]["id"]
    return user_id


@pytest.mark.parametrize("as_form", [True, False])
async def test_broadcasting_auth_signs_the_callers_channel(feed: Feed, world: World, as_form: bool) -> None:
    user_id = await user_id_of(feed, world.seeded.acme_token)
    body = {"socket_id": "123.456", "channel_name": f"private-App.Models.User.{user_id}"}
    kwargs: dict[str, Any] = {"data": body} if as_form else {"json": body}
    reply = await feed.api.call("POST", "/broadcasting/auth", world.seeded.acme_token, **kwargs)
    assert reply.status == 200
    assert reply.body == {"auth": protocol.channel_auth(APP_KEY, APP_SECRET, "123.456", body["channel_name"])}


async def test_broadcasting_auth_refusals(feed: Feed, world: World) -> None:
    seeded = world.seeded
    user_id = await user_id_of(feed, seeded.acme_key)
    mine = {"socket_id": "1.2", "channel_name": f"private-user.{user_id}"}
    assert (await feed.api.call("POST", "/broadcasting/auth", seeded.acme_key, json=mine)).status == 200
    other = {"socket_id": "1.2", "channel_name": f"private-user.{user_id + 1000}"}
    assert (await feed.api.call("POST", "/broadcasting/auth", seeded.acme_key, json=other)).status == 403
    presence = {"socket_id": "1.2", "channel_name": "presence-anything"}
    assert (await feed.api.call("POST", "/broadcasting/auth", seeded.acme_key, json=presence)).status == 403
    assert (await feed.api.call("POST", "/broadcasting/auth", "sk_live_wrong", json=mine)).status == 403
    assert (await feed.api.call("POST", "/broadcasting/auth", None, json=mine)).status == 403
    # An API key without messages.read may not subscribe.
    numbers_only = seeded.acme_numbers_key
    assert (await feed.api.call("POST", "/broadcasting/auth", numbers_only, json=mine)).status == 403
    bad_socket = {"socket_id": "not-a-socket", "channel_name": mine["channel_name"]}
    assert (await feed.api.call("POST", "/broadcasting/auth", seeded.acme_key, json=bad_socket)).status == 422
