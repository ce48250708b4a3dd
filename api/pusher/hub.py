"""Channels → subscribed connections, and fan-out of channel events to them.

`ChannelHub` is the interface the WebSocket routes, the HTTP trigger API and the domain-event fan-out use;
`LocalHub` serves one process. A hub spanning processes (PostgreSQL LISTEN/NOTIFY) implements the same
interface: `publish` forwards through the database, each process delivers to its own sockets.
Fan-out serialises a frame ONCE per channel, as finished WebSocket frame bytes, and hands the same
`OutboundFrame` to every subscriber; it never awaits a socket (a connection writes without blocking or queues
for its own writer task), so one slow client cannot delay the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from api.pusher import protocol
from api.pusher.wire import OutboundFrame


class Subscriber(Protocol):
    """One client connection as the hub sees it; `deliver` must never block."""

    @property
    def socket_id(self) -> str: ...

    def deliver(self, frame: OutboundFrame) -> None: ...


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    name: str
    subscription_count: int
    user_count: int | None  # presence channels only


class ChannelHub(Protocol):
    def join(self, channel: str, subscriber: Subscriber, member: protocol.PresenceMember | None) -> None:
        """Subscribe and send `subscription_succeeded` (for presence: then `member_added` to the others)."""

    def leave(self, channel: str, subscriber: Subscriber) -> None: ...

    def leave_all(self, subscriber: Subscriber) -> None: ...

    def is_member(self, channel: str, subscriber: Subscriber) -> bool: ...

    def publish(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        """Deliver `event` to every subscriber of `channels` but `except_socket_id`; returns how many."""

    def channels(self) -> list[ChannelInfo]: ...

    def channel(self, name: str) -> ChannelInfo: ...

    def presence_user_ids(self, name: str) -> list[str]: ...


@dataclass
class _Channel:
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    # Presence only: user_id → (user_info, socket ids of that user's connections).
    members: dict[str, tuple[Any, set[str]]] = field(default_factory=dict)
    member_of_socket: dict[str, str] = field(default_factory=dict)


class LocalHub:
    """The in-process hub; all calls happen on the event loop, so no locking is needed."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._channels_of: dict[str, set[str]] = {}  # socket_id → channel names, for leave_all

    def join(self, channel: str, subscriber: Subscriber, member: protocol.PresenceMember | None) -> None:
        state = self._channels.setdefault(channel, _Channel())
        socket_id = subscriber.socket_id
        if socket_id in state.subscribers:
            self._leave(channel, state, socket_id)  # a repeated subscribe replaces the old membership
            state = self._channels.setdefault(channel, _Channel())
        state.subscribers[socket_id] = subscriber
        self._channels_of.setdefault(socket_id, set()).add(channel)
        if member is None:
            subscriber.deliver(OutboundFrame.of(protocol.subscription_succeeded(channel)))
            return
        first_connection = member.user_id not in state.members
        info, sockets = state.members.setdefault(member.user_id, (member.user_info, set()))
        sockets.add(socket_id)
        state.member_of_socket[socket_id] = member.user_id
        snapshot = {user_id: user_info for user_id, (user_info, _) in state.members.items()}
        succeeded = protocol.subscription_succeeded(channel, protocol.presence_snapshot(snapshot))
        subscriber.deliver(OutboundFrame.of(succeeded))
        if first_connection:
            added = protocol.member_added(channel, member.user_id, info)
            self._broadcast(state, added, except_socket=socket_id)

    def leave(self, channel: str, subscriber: Subscriber) -> None:
        state = self._channels.get(channel)
        if state is not None and subscriber.socket_id in state.subscribers:
            self._leave(channel, state, subscriber.socket_id)
            self._channels_of.get(subscriber.socket_id, set()).discard(channel)

    def leave_all(self, subscriber: Subscriber) -> None:
        for channel in self._channels_of.pop(subscriber.socket_id, set()):
            state = self._channels.get(channel)
            if state is not None and subscriber.socket_id in state.subscribers:
                self._leave(channel, state, subscriber.socket_id)

    def is_member(self, channel: str, subscriber: Subscriber) -> bool:
        state = self._channels.get(channel)
        return state is not None and subscriber.socket_id in state.subscribers

    def publish(
        self, channels: Sequence[str], event: str, data: str, *, except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        delivered = 0
        for channel in channels:
            state = self._channels.get(channel)
            if state is None:
                continue
            delivered += self._broadcast(
                state, protocol.event_frame(event, channel, data, user_id), except_socket=except_socket_id
            )
        return delivered

    def channels(self) -> list[ChannelInfo]:
        return [self.channel(name) for name in sorted(self._channels)]

    def channel(self, name: str) -> ChannelInfo:
        state = self._channels.get(name)
        if state is None:
            return ChannelInfo(name, 0, 0 if protocol.channel_kind(name) is protocol.ChannelKind.PRESENCE
                               else None)
        is_presence = protocol.channel_kind(name) is protocol.ChannelKind.PRESENCE
        return ChannelInfo(name, len(state.subscribers), len(state.members) if is_presence else None)

    def presence_user_ids(self, name: str) -> list[str]:
        state = self._channels.get(name)
        return list(state.members) if state is not None else []

    def _leave(self, channel: str, state: _Channel, socket_id: str) -> None:
        del state.subscribers[socket_id]
        user_id = state.member_of_socket.pop(socket_id, None)
        if user_id is not None:
            _, sockets = state.members[user_id]
            sockets.discard(socket_id)
            if not sockets:  # the user's last connection left the channel
                del state.members[user_id]
                self._broadcast(state, protocol.member_removed(channel, user_id), except_socket=None)
        if not state.subscribers:
            del self._channels[channel]

    @staticmethod
    def _broadcast(state: _Channel, text: str, *, except_socket: str | None) -> int:
        frame = OutboundFrame.of(text)  # framed once; every subscriber gets the same bytes
        count = 0
        # A copy: delivering may cut a slow subscriber, which leaves the channel while we iterate.
        for socket_id, subscriber in list(state.subscribers.items()):
            if socket_id != except_socket:
                subscriber.deliver(frame)
                count += 1
        return count
