"""Every row of the realtime spec's table against the real aiohttp server, frame by frame."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from api.pusher import protocol
from tests.api.pusher.conftest import APP_KEY, APP_SECRET, Feed, FeedFactory, PusherClient


def error_of(frame: dict[str, object]) -> dict[str, object]:
    assert frame["event"] == "pusher:error", frame
    assert isinstance(frame["data"], str)
    decoded: dict[str, object] = json.loads(frame["data"])
    return decoded


async def subscribe_private(client: PusherClient, channel: str, channel_data: str | None = None) -> None:
    auth = protocol.channel_auth(APP_KEY, APP_SECRET, client.socket_id, channel, channel_data)
    data: dict[str, str] = {"channel": channel, "auth": auth}
    if channel_data is not None:
        data["channel_data"] = channel_data
    await client.send("pusher:subscribe", data)


async def test_open_sends_connection_established_with_socket_id_and_timeout(feed: Feed) -> None:
    ws = await feed.client.ws_connect(f"/app/{APP_KEY}?protocol=7")
    frame = json.loads((await ws.receive()).data)
    assert frame["event"] == "pusher:connection_established"
    data = json.loads(frame["data"])
    assert protocol.is_valid_socket_id(data["socket_id"])
    assert data["activity_timeout"] == 30
    await ws.close()


async def test_the_reverb_prefix_serves_the_same_protocol(feed: Feed) -> None:
    client = await feed.connect(f"/reverb/app/{APP_KEY}")
    await client.send("pusher:ping", {})
    assert await client.frame() == {"event": "pusher:pong"}


async def test_client_ping_gets_pong(feed: Feed) -> None:
    client = await feed.connect()
    await client.send("pusher:ping", {})
    assert await client.frame() == {"event": "pusher:pong"}


async def test_idle_connection_is_pinged_and_kept_when_it_answers(feed_factory: FeedFactory) -> None:
    feed = await feed_factory(activity_timeout_s=0.2, pong_timeout_s=0.5)
    client = await feed.connect()
    assert await client.frame() == {"event": "pusher:ping"}
    await client.send("pusher:pong", {})
    # Still open: pinged again after the next idle spell.
    assert await client.frame() == {"event": "pusher:ping"}


async def test_no_pong_in_time_is_4201_and_close(feed_factory: FeedFactory) -> None:
    feed = await feed_factory(activity_timeout_s=0.2, pong_timeout_s=0.2)
    client = await feed.connect()
    assert await client.frame() == {"event": "pusher:ping"}
    assert error_of(await client.frame()) == {"code": 4201, "message": "Pong reply not received in time"}
    assert await client.closed() == 4201
    assert feed.server.connections == {}


async def test_public_subscription_and_server_event(feed: Feed) -> None:
    client = await feed.connect()
    await client.send("pusher:subscribe", {"channel": "news"})
    assert await client.frame() == {"event": "pusher_internal:subscription_succeeded", "data": "{}",
                                    "channel": "news"}
    assert feed.server.hub.publish(["news"], "story", '{"n":1}') == 1
    assert await client.frame() == {"event": "story", "channel": "news", "data": '{"n":1}'}


async def test_private_subscription_with_valid_auth(feed: Feed) -> None:
    client = await feed.connect()
    await subscribe_private(client, "private-user.1")
    assert (await client.frame())["event"] == "pusher_internal:subscription_succeeded"


@pytest.mark.parametrize("auth", [None, f"{APP_KEY}:" + "0" * 64, "garbage", f"other:{'0' * 64}"])
async def test_bad_or_missing_auth_is_4009_and_connection_stays_open(feed: Feed, auth: str | None) -> None:
    client = await feed.connect()
    data = {"channel": "private-user.1"} if auth is None else {"channel": "private-user.1", "auth": auth}
    await client.send("pusher:subscribe", data)
    assert error_of(await client.frame()) == {"code": 4009, "message": "Connection is unauthorized"}
    await client.send("pusher:ping", {})
    assert await client.frame() == {"event": "pusher:pong"}
    assert feed.server.hub.publish(["private-user.1"], "e", "{}") == 0


async def test_auth_signed_for_another_socket_is_refused(feed: Feed) -> None:
    first, second = await feed.connect(), await feed.connect()
    await second.send("pusher:subscribe", {
        "channel": "private-user.1",
        "auth": protocol.channel_auth(APP_KEY, APP_SECRET, first.socket_id, "private-user.1")})
    assert error_of(await second.frame())["code"] == 4009


async def test_presence_members_join_and_leave(feed: Feed) -> None:
    ada, bob, bob_again = await feed.connect(), await feed.connect(), await feed.connect()
    channel = "presence-room"
    await subscribe_private(ada, channel, '{"user_id":1,"user_info":{"name":"Ada"}}')
    joined = await ada.frame()
    assert joined["event"] == "pusher_internal:subscription_succeeded"
    assert json.loads(joined["data"]) == {
        "presence": {"count": 1, "ids": ["1"], "hash": {"1": {"name": "Ada"}}}}
    await subscribe_private(bob, channel, '{"user_id":"2","user_info":{"name":"Bob"}}')
    snapshot = json.loads((await bob.frame())["data"])["presence"]
    assert snapshot["count"] == 2 and sorted(snapshot["ids"]) == ["1", "2"]
    added = await ada.frame()
    assert added == {"event": "pusher_internal:member_added", "channel": channel,
                     "data": '{"user_id":"2","user_info":{"name":"Bob"}}'}
    # Bob's second connection is not a new member: nobody is told.
    await subscribe_private(bob_again, channel, '{"user_id":"2","user_info":{"name":"Bob"}}')
    assert json.loads((await bob_again.frame())["data"])["presence"]["count"] == 2
    await bob.ws.close()
    await ada.send("pusher:ping", {})
    assert await ada.frame() == {"event": "pusher:pong"}  # no member_removed while Bob has a connection left
    await bob_again.send("pusher:unsubscribe", {"channel": channel})
    assert await ada.frame() == {"event": "pusher_internal:member_removed", "channel": channel,
                                 "data": '{"user_id":"2"}'}


async def test_presence_without_channel_data_is_refused(feed: Feed) -> None:
    client = await feed.connect()
    await subscribe_private(client, "presence-room")
    assert error_of(await client.frame())["code"] == 4009


async def test_client_events_are_refused_by_default_with_4301(feed: Feed) -> None:
    client = await feed.connect()
    await subscribe_private(client, "private-chat")
    await client.until("pusher_internal:subscription_succeeded")
    await client.send("client-typing", {"x": 1}, channel="private-chat")
    assert error_of(await client.frame()) == {"code": 4301,
                                              "message": "The app does not have client messaging enabled."}


async def test_enabled_client_events_reach_the_other_members_only(feed_factory: FeedFactory) -> None:
    feed = await feed_factory(client_events=True)
    sender, listener, outsider = await feed.connect(), await feed.connect(), await feed.connect()
    for client in (sender, listener):
        await subscribe_private(client, "private-chat")
        await client.until("pusher_internal:subscription_succeeded")
    await sender.send("client-typing", {"x": 1}, channel="private-chat")
    assert await listener.frame() == {"event": "client-typing", "channel": "private-chat", "data": '{"x":1}'}
    await outsider.send("client-typing", {"x": 1}, channel="private-chat")
    assert error_of(await outsider.frame())["code"] == 4009
    await sender.send("pusher:ping", {})
    assert await sender.frame() == {"event": "pusher:pong"}  # the sender did not get its own event


async def test_unsubscribe_has_no_reply_and_stops_events(feed: Feed) -> None:
    client = await feed.connect()
    await client.send("pusher:subscribe", {"channel": "news"})
    await client.until("pusher_internal:subscription_succeeded")
    await client.send("pusher:unsubscribe", {"channel": "news"})
    await client.send("pusher:ping", {})
    assert await client.frame() == {"event": "pusher:pong"}
    assert feed.server.hub.publish(["news"], "story", "{}") == 0


async def test_unknown_app_key_is_4001_then_close(feed: Feed) -> None:
    ws = await feed.client.ws_connect("/app/not-our-key?protocol=7")
    client = PusherClient(ws)
    assert error_of(await client.frame()) == {"code": 4001, "message": "Application does not exist"}
    assert await client.closed() == 4001


@pytest.mark.parametrize("text", ["{not json", '{"event":"pusher:nonsense","data":{}}', '["pusher:ping"]',
                                  '{"event":"pusher:subscribe","data":{"channel":"bad name"}}'])
async def test_invalid_messages_are_4200_and_connection_stays_open(feed: Feed, text: str) -> None:
    client = await feed.connect()
    await client.ws.send_str(text)
    assert error_of(await client.frame()) == {"code": 4200, "message": "Invalid message format"}
    await client.send("pusher:ping", {})
    assert await client.frame() == {"event": "pusher:pong"}


async def test_over_connection_quota_is_4004(feed_factory: FeedFactory) -> None:
    feed = await feed_factory(max_connections=1)
    await feed.connect()
    client = PusherClient(await feed.client.ws_connect(f"/app/{APP_KEY}"))
    assert error_of(await client.frame()) == {"code": 4004, "message": "Application is over connection quota"}
    assert await client.closed() == 4004


async def test_origin_not_allowed_is_4009(feed_factory: FeedFactory) -> None:
    feed = await feed_factory(allowed_origins=("app.example.com", "*.simrelay.io"))
    allowed = await feed.connect(headers={"Origin": "https://eu.simrelay.io"})
    await allowed.send("pusher:ping", {})
    assert await allowed.frame() == {"event": "pusher:pong"}
    client = PusherClient(await feed.client.ws_connect(f"/app/{APP_KEY}", headers={"Origin": "https://evil.test"}))
    assert error_of(await client.frame()) == {"code": 4009, "message": "Origin not allowed"}
    assert await client.closed() == 4009


async def test_message_over_the_size_limit_closes_with_1009(feed_factory: FeedFactory) -> None:
    feed = await feed_factory(max_message_bytes=200)
    client = await feed.connect()
    await client.send("pusher:ping", {"pad": "x" * 150})  # under the limit: fine
    assert await client.frame() == {"event": "pusher:pong"}
    await client.send("pusher:ping", {"pad": "x" * 250})
    assert await client.closed() == 1009


async def test_closing_leaves_every_channel(feed: Feed) -> None:
    client = await feed.connect()
    await client.send("pusher:subscribe", {"channel": "news"})
    await client.until("pusher_internal:subscription_succeeded")
    await client.ws.close()
    async with asyncio.timeout(5):  # the server notices the close on its own schedule: poll with a deadline
        while feed.server.connections:  # noqa: ASYNC110 - the server exposes no event for "handler done"
            await asyncio.sleep(0.01)
    assert feed.server.hub.channels() == []


async def test_binary_frames_are_4200(feed: Feed) -> None:
    client = await feed.connect()
    await client.ws.send_bytes(b"\x00\x01")
    assert error_of(await client.frame())["code"] == 4200


async def test_websocket_upgrade_is_required(feed: Feed) -> None:
    response = await feed.client.get(f"/app/{APP_KEY}")
    assert response.status >= 400
    assert isinstance(response, aiohttp.ClientResponse)
