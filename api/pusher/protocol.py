"""Pusher Channels protocol 7 as Laravel Reverb speaks it: frames, channel kinds, signatures, presence data.

Pure: stdlib only, no sockets, no clock (the caller passes `now`), no randomness it does not get handed.
Every server→client frame is built here, so its `data` is always a JSON-encoded string (the protocol's rule).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

PROTOCOL_VERSION: Final = 7
# Pusher's HTTP API refuses a request whose auth_timestamp is further than this from the server's clock.
AUTH_TIMESTAMP_WINDOW_S: Final = 600
MAX_CHANNEL_NAME_CHARS: Final = 200
MAX_EVENT_NAME_CHARS: Final = 200
MAX_TRIGGER_CHANNELS: Final = 100
_CHANNEL_NAME: Final = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
_SOCKET_ID: Final = re.compile(r"\d+\.\d+")
_SOCKET_ID_PART_LIMIT: Final = 10**10


class ErrorCode(IntEnum):
    """`pusher:error` codes; 4000-4099 tell clients not to reconnect, 4100-4199 to back off, 4200+ at once."""

    APP_NOT_FOUND = 4001
    OVER_QUOTA = 4004
    UNAUTHORIZED = 4009
    OVER_CAPACITY = 4100
    INVALID_MESSAGE = 4200
    PONG_TIMEOUT = 4201
    CLIENT_EVENTS_DISABLED = 4301


DEFAULT_MESSAGES: Final[Mapping[ErrorCode, str]] = {
    ErrorCode.APP_NOT_FOUND: "Application does not exist",
    ErrorCode.OVER_QUOTA: "Application is over connection quota",
    ErrorCode.UNAUTHORIZED: "Connection is unauthorized",
    ErrorCode.OVER_CAPACITY: "Over capacity",
    ErrorCode.INVALID_MESSAGE: "Invalid message format",
    ErrorCode.PONG_TIMEOUT: "Pong reply not received in time",
    ErrorCode.CLIENT_EVENTS_DISABLED: "The app does not have client messaging enabled.",
}


class ProtocolError(Exception):
    """The client broke the protocol; `code` and `message` go back to it, `evidence` quotes what it sent."""

    def __init__(self, code: ErrorCode, evidence: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        self.evidence = evidence
        super().__init__(f"{self.code.value} {self.message}: {evidence[:200]!r}")


class ChannelKind(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    PRESENCE = "presence"


def is_valid_channel_name(name: str) -> bool:
    return 0 < len(name) <= MAX_CHANNEL_NAME_CHARS and _CHANNEL_NAME.fullmatch(name) is not None


def channel_kind(name: str) -> ChannelKind:
    if name.startswith("presence-"):
        return ChannelKind.PRESENCE
    if name.startswith("private-"):
        return ChannelKind.PRIVATE
    return ChannelKind.PUBLIC


def is_valid_socket_id(socket_id: str) -> bool:
    return len(socket_id) <= 40 and _SOCKET_ID.fullmatch(socket_id) is not None


def new_socket_id(random_below: Callable[[int], int]) -> str:
    """Two random integers joined by a dot, as Pusher and Reverb issue them (`secrets.randbelow`)."""
    return f"{random_below(_SOCKET_ID_PART_LIMIT)}.{random_below(_SOCKET_ID_PART_LIMIT)}"


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- server → client frames ------------------------------------------------------------------------------

# Reverb sends both without `data`; pusher-js accepts that.
PING_FRAME: Final = _dumps({"event": "pusher:ping"})
PONG_FRAME: Final = _dumps({"event": "pusher:pong"})


def connection_established(socket_id: str, activity_timeout_s: int) -> str:
    data = _dumps({"socket_id": socket_id, "activity_timeout": activity_timeout_s})
    return _dumps({"event": "pusher:connection_established", "data": data})


def error_frame(code: ErrorCode, message: str | None = None) -> str:
    data = _dumps({"code": int(code), "message": message or DEFAULT_MESSAGES[code]})
    return _dumps({"event": "pusher:error", "data": data})


def subscription_succeeded(channel: str, presence: Mapping[str, Any] | None = None) -> str:
    data = _dumps({"presence": presence}) if presence is not None else "{}"
    return _dumps({"event": "pusher_internal:subscription_succeeded", "data": data, "channel": channel})


def member_added(channel: str, user_id: str, user_info: Any) -> str:
    data = _dumps({"user_id": user_id, "user_info": user_info})
    return _dumps({"event": "pusher_internal:member_added", "data": data, "channel": channel})


def member_removed(channel: str, user_id: str) -> str:
    data = _dumps({"user_id": user_id})
    return _dumps({"event": "pusher_internal:member_removed", "data": data, "channel": channel})


def event_frame(name: str, channel: str, data: str, user_id: str | None = None) -> str:
    """A channel event; built once per publish and shared by every subscriber."""
    frame: dict[str, str] = {"event": name, "channel": channel, "data": data}
    if user_id is not None:
        frame["user_id"] = user_id
    return _dumps(frame)


def encode_event_data(data: Any) -> str:
    """`data` as the protocol carries it: strings as they are, anything else JSON-encoded."""
    return data if isinstance(data, str) else _dumps(data)


# --- client → server frames ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientFrame:
    event: str
    data: Any
    channel: str | None


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    channel: str
    auth: str | None
    channel_data: str | None


def parse_client_frame(text: str) -> ClientFrame:
    """A client frame; anything that is not `{"event": str, ...}` is a 4200."""
    try:
        decoded = json.loads(text)
    except ValueError:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, text) from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("event"), str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, text)
    channel = decoded.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, text)
    data = decoded.get("data")
    if isinstance(data, str) and decoded["event"].startswith("pusher:"):
        # Some clients (older pusher-js, the Pusher Swift SDK) send `data` of pusher: events as a string.
        try:
            data = json.loads(data) if data else {}
        except ValueError:
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, text) from None
    return ClientFrame(event=decoded["event"], data=data, channel=channel)


def subscribe_request(frame: ClientFrame) -> SubscribeRequest:
    data = frame.data
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, repr(data))
    channel, auth, channel_data = data.get("channel"), data.get("auth"), data.get("channel_data")
    if not isinstance(channel, str) or not is_valid_channel_name(channel):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, repr(data))
    if (auth is not None and not isinstance(auth, str)) or (
        channel_data is not None and not isinstance(channel_data, str)
    ):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, repr(data))
    return SubscribeRequest(channel, auth, channel_data)


def unsubscribe_channel(frame: ClientFrame) -> str:
    data = frame.data
    channel = data.get("channel") if isinstance(data, dict) else None
    if not isinstance(channel, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, repr(data))
    return channel


# --- channel authorisation -------------------------------------------------------------------------------


def channel_signature(secret: str, socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """Hex HMAC-SHA256 over `socket_id:channel` (presence: `:channel_data` appended)."""
    subject = f"{socket_id}:{channel}" if channel_data is None else f"{socket_id}:{channel}:{channel_data}"
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()


def channel_auth(key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """The `auth` value a channel-auth endpoint answers: `KEY:HEX`."""
    return f"{key}:{channel_signature(secret, socket_id, channel, channel_data)}"


def verify_channel_auth(
    key: str, secret: str, socket_id: str, request: SubscribeRequest
) -> bool:
    if request.auth is None:
        return False
    expected = channel_auth(key, secret, socket_id, request.channel, request.channel_data)
    return hmac.compare_digest(expected.encode(), request.auth.encode())


@dataclass(frozen=True, slots=True)
class PresenceMember:
    user_id: str
    user_info: Any


def parse_channel_data(channel_data: str | None) -> PresenceMember:
    """The signed `channel_data` of a presence subscription; `user_id` may be a number or a string."""
    if channel_data is None:
        raise ProtocolError(ErrorCode.UNAUTHORIZED, "presence subscription without channel_data")
    try:
        decoded = json.loads(channel_data)
    except ValueError:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, channel_data) from None
    user_id = decoded.get("user_id") if isinstance(decoded, dict) else None
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, channel_data)
    return PresenceMember(str(user_id), decoded.get("user_info"))


def presence_snapshot(members: Mapping[str, Any]) -> dict[str, Any]:
    """The `presence` object of subscription_succeeded: `{count, ids, hash}` over distinct users."""
    return {"count": len(members), "ids": list(members), "hash": dict(members)}


# --- HTTP API (server SDKs publishing to us) -------------------------------------------------------------


def body_md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def request_signature(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """Hex HMAC-SHA256 of `METHOD\\nPATH\\nk=v&...` with keys sorted and `auth_signature` left out."""
    query = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "auth_signature")
    subject = f"{method.upper()}\n{path}\n{query}"
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()


def request_problem(
    key: str, secret: str, *, method: str, path: str, params: Mapping[str, str], body: bytes, now_s: float
) -> str | None:
    """Why a signed HTTP API request must be refused (401), or None when it is authentic."""
    if params.get("auth_key") != key:
        return f"unknown auth_key {params.get('auth_key')!r}"
    if params.get("auth_version", "1.0") != "1.0":
        return f"unsupported auth_version {params.get('auth_version')!r}"
    timestamp = params.get("auth_timestamp", "")
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > AUTH_TIMESTAMP_WINDOW_S:
        return f"auth_timestamp {timestamp!r} is missing or more than {AUTH_TIMESTAMP_WINDOW_S} s off"
    if body and not hmac.compare_digest(params.get("body_md5", ""), body_md5(body)):
        return "body_md5 does not match the body"
    expected = request_signature(secret, method, path, params)
    if not hmac.compare_digest(expected, params.get("auth_signature", "")):
        return "auth_signature does not match"
    return None


@dataclass(frozen=True, slots=True)
class TriggeredEvent:
    name: str
    data: str
    channels: tuple[str, ...]
    socket_id: str | None


def parse_triggered_event(body: Any, max_data_bytes: int) -> TriggeredEvent:
    """One event of `/events` or `/batch_events`; a ValueError says which field is wrong (422)."""
    if not isinstance(body, dict):
        raise ValueError("the event must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_EVENT_NAME_CHARS:
        raise ValueError(f"name must be a string of 1..{MAX_EVENT_NAME_CHARS} characters, got {name!r}")
    channels = body.get("channels", [body["channel"]] if "channel" in body else None)
    if not isinstance(channels, list) or not 0 < len(channels) <= MAX_TRIGGER_CHANNELS:
        raise ValueError(f"channels must list 1..{MAX_TRIGGER_CHANNELS} channel names")
    for channel in channels:
        if not isinstance(channel, str) or not is_valid_channel_name(channel):
            raise ValueError(f"invalid channel name {channel!r}")
    data = encode_event_data(body.get("data", ""))
    if len(data.encode()) > max_data_bytes:
        raise ValueError(f"data is {len(data.encode())} bytes, more than {max_data_bytes}")
    socket_id = body.get("socket_id")
    if socket_id is not None and (not isinstance(socket_id, str) or not is_valid_socket_id(socket_id)):
        raise ValueError(f"invalid socket_id {socket_id!r}")
    return TriggeredEvent(name, data, tuple(channels), socket_id)
