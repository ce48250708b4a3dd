"""A hub for many API processes: events that *clients* publish (the HTTP trigger API, client events) reach
the subscribers of every process, through a NOTIFY channel of the shared PostgreSQL.

Domain events do not go through here: every process's realtime fan-out already receives every domain event
from the event bus and publishes it with `publish_here`, so relaying them would deliver them twice.
Subscriptions and presence stay per process (channel queries answer for this process). Best effort, like the
local hub: a payload over PostgreSQL's NOTIFY limit is delivered here only, and said so in the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from api.pusher.hub import LocalHub

log = logging.getLogger(__name__)

RELAY_CHANNEL: Final = "simrelay_pusher"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more (docs, NOTIFY); keep a margin.
RELAY_PAYLOAD_LIMIT_BYTES: Final = 7900


class NotifyChannel(Protocol):
    """What the relay needs of the event bus's LISTEN/NOTIFY connection (gatewayd.delivery.pg_notify)."""

    origin: str

    def listen_also(self, channel: str, on_payload: Callable[[str], None]) -> None: ...

    def notify(self, channel: str, payload: str) -> bool: ...


class RelayedHub(LocalHub):
    def __init__(self, notifier: NotifyChannel, *, channel: str = RELAY_CHANNEL) -> None:
        super().__init__()
        self._notifier = notifier
        self._channel = channel
        self.relayed_out = 0
        self.relayed_in = 0
        notifier.listen_also(channel, self._arrived)

    def publish(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        """Deliver here and to every other API process."""
        payload = json.dumps({"origin": self._notifier.origin, "channels": list(channels), "event": event,
                              "data": data, "except": except_socket_id, "user_id": user_id},
                             separators=(",", ":"), ensure_ascii=False)  # fmt: skip
        if len(payload.encode()) >= RELAY_PAYLOAD_LIMIT_BYTES:
            log.warning("pusher relay: %r on %s is %d bytes, over the NOTIFY limit: delivered on this host "
                        "only", event, list(channels)[:3], len(payload.encode()))
        elif self._notifier.notify(self._channel, payload):
            self.relayed_out += 1
        return self.publish_here(channels, event, data, except_socket_id=except_socket_id, user_id=user_id)

    def publish_here(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        """Deliver to this process's subscribers only (the domain-event fan-out uses this)."""
        return super().publish(channels, event, data, except_socket_id=except_socket_id, user_id=user_id)

    def _arrived(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["origin"] == self._notifier.origin:
                return  # ours: delivered here when published
            self.publish_here(message["channels"], message["event"], message["data"],
                              except_socket_id=message["except"], user_id=message["user_id"])
            self.relayed_in += 1
        except (ValueError, KeyError, TypeError):
            log.exception("pusher relay: cannot deliver %r", payload[:200])


class LocalPublisher:
    """`publish` that stays in this process: what the domain-event fan-out must use over a RelayedHub."""

    def __init__(self, hub: RelayedHub) -> None:
        self._hub = hub

    def publish(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        return self._hub.publish_here(channels, event, data, except_socket_id=except_socket_id,
                                      user_id=user_id)
