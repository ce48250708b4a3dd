"""The pure protocol module: frames, channel names, and signatures against Pusher's published vectors."""

from __future__ import annotations

import json
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.pusher import protocol
from api.pusher.protocol import ErrorCode, ProtocolError

# From Pusher's "Channels authentication" and "HTTP API reference" documentation.
DOC_KEY, DOC_SECRET = "278d425bdf160c739803", "7ad3773142a6692b25b8"
DOC_PRESENCE_DATA = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
DOC_BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
DOC_PARAMS = {"auth_key": DOC_KEY, "auth_timestamp": "1353088179", "auth_version": "1.0",
              "body_md5": "ec365a775a4cd0599faeb73354201b6f",
              "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"}


def test_private_and_presence_auth_match_pusher_documentation() -> None:
    assert protocol.channel_auth(DOC_KEY, DOC_SECRET, "1234.1234", "private-foobar") == (
        "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
    assert protocol.channel_auth(DOC_KEY, DOC_SECRET, "1234.1234", "presence-foobar", DOC_PRESENCE_DATA) == (
        "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80")


def test_http_api_signature_matches_pusher_documentation() -> None:
    assert protocol.body_md5(DOC_BODY) == DOC_PARAMS["body_md5"]
    assert protocol.request_problem(DOC_KEY, DOC_SECRET, method="POST", path="/apps/3/events",
                                    params=DOC_PARAMS, body=DOC_BODY, now_s=1353088179 + 5) is None


@pytest.mark.parametrize(("change", "evidence"), [
    ({"auth_key": "other"}, "auth_key"),
    ({"auth_timestamp": "1353080000"}, "auth_timestamp"),
    ({"auth_version": "2.0"}, "auth_version"),
    ({"body_md5": "0" * 32}, "body_md5"),
    ({"auth_signature": "0" * 64}, "auth_signature"),
])
def test_http_api_refuses_tampered_requests(change: dict[str, str], evidence: str) -> None:
    problem = protocol.request_problem(DOC_KEY, DOC_SECRET, method="POST", path="/apps/3/events",
                                       params={**DOC_PARAMS, **change}, body=DOC_BODY, now_s=1353088179)
    assert problem is not None and evidence in problem


def test_verify_rejects_wrong_socket_channel_or_data() -> None:
    auth = protocol.channel_auth(DOC_KEY, DOC_SECRET, "1.2", "presence-foobar", "{}")
    good = protocol.SubscribeRequest("presence-foobar", auth, "{}")
    assert protocol.verify_channel_auth(DOC_KEY, DOC_SECRET, "1.2", good)
    assert not protocol.verify_channel_auth(DOC_KEY, DOC_SECRET, "1.3", good)
    assert not protocol.verify_channel_auth(DOC_KEY, DOC_SECRET, "1.2",
                                            protocol.SubscribeRequest("presence-x", good.auth, "{}"))
    assert not protocol.verify_channel_auth(DOC_KEY, DOC_SECRET, "1.2",
                                            protocol.SubscribeRequest("presence-foobar", good.auth, "{ }"))
    assert not protocol.verify_channel_auth(DOC_KEY, DOC_SECRET, "1.2",
                                            protocol.SubscribeRequest("presence-foobar", None, "{}"))


def test_every_server_frame_carries_data_as_a_string() -> None:
    frames = [
        protocol.connection_established("1.2", 30), protocol.error_frame(ErrorCode.UNAUTHORIZED),
        protocol.subscription_succeeded("c"), protocol.subscription_succeeded("presence-c", {"count": 0}),
        protocol.member_added("presence-c", "1", {"name": "x"}), protocol.member_removed("presence-c", "1"),
        protocol.event_frame("e", "c", '{"a":1}'),
    ]
    for frame in frames:
        assert isinstance(json.loads(frame)["data"], str), frame
    assert json.loads(protocol.connection_established("1.2", 30)) == {
        "event": "pusher:connection_established", "data": '{"socket_id":"1.2","activity_timeout":30}'}
    assert json.loads(protocol.PONG_FRAME) == {"event": "pusher:pong"}


@pytest.mark.parametrize(("code", "message"), [
    (ErrorCode.APP_NOT_FOUND, "Application does not exist"),
    (ErrorCode.OVER_QUOTA, "Application is over connection quota"),
    (ErrorCode.UNAUTHORIZED, "Connection is unauthorized"),
    (ErrorCode.INVALID_MESSAGE, "Invalid message format"),
    (ErrorCode.PONG_TIMEOUT, "Pong reply not received in time"),
    (ErrorCode.CLIENT_EVENTS_DISABLED, "The app does not have client messaging enabled."),
])
def test_error_frames(code: ErrorCode, message: str) -> None:
    frame = json.loads(protocol.error_frame(code))
    assert frame["event"] == "pusher:error"
    assert json.loads(frame["data"]) == {"code": int(code), "message": message}


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"data":{}}', '{"event":5}',
                                  '{"event":"x","channel":3}',
                                  '{"event":"pusher:subscribe","data":"{broken"}'])
def test_malformed_client_frames_are_4200(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_client_frame(text)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE


def test_subscribe_data_may_arrive_as_a_json_string() -> None:
    frame = protocol.parse_client_frame('{"event":"pusher:subscribe","data":"{\\"channel\\":\\"c\\"}"}')
    assert protocol.subscribe_request(frame) == protocol.SubscribeRequest("c", None, None)


@pytest.mark.parametrize(("name", "kind"), [("c", "public"), ("private-App.Models.User.1", "private"),
                                            ("presence-room", "presence"), ("privatex", "public")])
def test_channel_kinds(name: str, kind: str) -> None:
    assert protocol.channel_kind(name) == kind


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x" * 201, "é"])
def test_invalid_channel_names(name: str) -> None:
    assert not protocol.is_valid_channel_name(name)


def test_presence_channel_data_and_snapshot() -> None:
    member = protocol.parse_channel_data('{"user_id": 7, "user_info": {"name": "Ada"}}')
    assert member == protocol.PresenceMember("7", {"name": "Ada"})
    assert protocol.presence_snapshot({"7": {"name": "Ada"}}) == {
        "count": 1, "ids": ["7"], "hash": {"7": {"name": "Ada"}}}
    for bad in ('{"user_info": {}}', '{"user_id": true}', "[1]", "nope"):
        with pytest.raises(ProtocolError):
            protocol.parse_channel_data(bad)


def test_socket_ids_are_two_integers() -> None:
    for _ in range(50):
        assert protocol.is_valid_socket_id(protocol.new_socket_id(secrets.randbelow))
    assert not protocol.is_valid_socket_id("1.2.3")
    assert not protocol.is_valid_socket_id("a.b")


def test_triggered_event_validation() -> None:
    event = protocol.parse_triggered_event({"name": "e", "channel": "c", "data": {"a": 1}}, 100)
    assert event == protocol.TriggeredEvent("e", '{"a":1}', ("c",), None)
    for bad in ({"channels": ["c"]}, {"name": "e"}, {"name": "e", "channels": []},
                {"name": "e", "channels": ["a b"]}, {"name": "e", "channels": ["c"], "data": "x" * 101},
                {"name": "e", "channels": ["c"], "socket_id": "nope"}):
        with pytest.raises(ValueError, match=r"\w"):
            protocol.parse_triggered_event(bad, 100)


@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=300))
def test_any_signed_subscription_verifies_and_a_changed_one_does_not(socket: str, channel: str,
                                                                     data: str) -> None:
    request = protocol.SubscribeRequest(channel, protocol.channel_auth("k", "s", socket, channel, data), data)
    assert protocol.verify_channel_auth("k", "s", socket, request)
    assert not protocol.verify_channel_auth("k", "s", socket + "0", request)


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_protocol_error(text: str) -> None:
    try:
        frame = protocol.parse_client_frame(text)
    except ProtocolError as error:
        assert error.code is ErrorCode.INVALID_MESSAGE
    else:
        assert isinstance(frame.event, str)
