"""Domain events → Pusher channel events on the user channels of exactly the users allowed to see them.

Subscribes to the `EventBus` (events arrive after their commit) and asks the audience service who may see the
SIM at that moment (remembered per SIM for about a second; a lock event makes it ask afresh). It publishes
through a `ChannelPublisher` (the API's hub), so it never imports the API and a cross-process hub can replace
the local one. Best effort, like the bus: webhooks are the durable path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from gatewayd.events import (
    DeviceStatusChanged,
    DomainEvent,
    EventBus,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
)
from gatewayd.services.audience import AudienceService

log = logging.getLogger(__name__)

# Laravel's default private user channel, and the short alias the SimRelay clients subscribe to.
USER_CHANNEL_PATTERNS: Final = ("private-App.Models.User.{user_id}", "private-user.{user_id}")


def user_channels(user_id: int) -> tuple[str, ...]:
    return tuple(pattern.format(user_id=user_id) for pattern in USER_CHANNEL_PATTERNS)


class ChannelPublisher(Protocol):
    def publish(
        self,
        channels: Sequence[str],
        event: str,
        data: str,
        *,
        except_socket_id: str | None = None,
        user_id: str | None = None,
    ) -> int: ...


def iso_utc(moment: datetime) -> str:
    """Whole seconds, UTC, `Z`: the API's timestamp format."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def channel_event(event: DomainEvent) -> tuple[str, dict[str, Any]]:
    """The Pusher event name and payload of a domain event (ENDPOINTS.md, Events)."""
    match event:
        case MessageReceived():
            return "message.received", {
                "id": event.message_id,
                "hosted_sim_id": event.hosted_sim_id,
                "message_text": event.text,
                "from": event.sender,
                "to": event.recipient,
                "received_at": iso_utc(event.received_at),
            }
        case MessageStatusChanged():
            return "message.status", {
                "id": event.message_id,
                "hosted_sim_id": event.hosted_sim_id,
                "status": event.status,
                "error": event.error,
            }
        case SimLocked():
            return "sim.locked", {
                "hosted_sim_id": event.hosted_sim_id,
                "lock_id": event.lock_id,
                "user_id": event.user_id,
                "user_name": event.user_name,
                "expires_at": iso_utc(event.expires_at),
            }
        case SimUnlocked():
            return "sim.unlocked", {
                "hosted_sim_id": event.hosted_sim_id,
                "lock_id": event.lock_id,
                "user_id": event.user_id,
                "reason": event.reason,
            }
        case DeviceStatusChanged():
            return "device.status", {
                "device_id": event.device_id,
                "hosted_sim_ids": list(event.hosted_sim_ids),
                "is_online": event.is_online,
                "status": event.status,
            }
    raise TypeError(f"no channel event for {event!r}")


class RealtimeFanout:
    """Runs as one task owned by the runtime: `await fanout.run()` until cancelled."""

    def __init__(self, bus: EventBus, audience: AudienceService, publisher: ChannelPublisher) -> None:
        self._bus = bus
        self._audience = audience
        self._publisher = publisher
        self.delivered = 0  # events published to at least one channel

    async def run(self) -> None:
        subscription = self._bus.subscribe()
        warned = False
        try:
            async for event in subscription:
                if subscription.overflowed and not warned:
                    log.warning("realtime: events were lost (queue full or event bus connection down)")
                    warned = True
                try:
                    await self.deliver(event)
                except Exception:  # task boundary: one bad event must not end the feed
                    log.exception("realtime: could not deliver %r", event)
        finally:
            subscription.close()

    async def deliver(self, event: DomainEvent) -> None:
        users = await self._recipients(event)
        if not users:
            return
        name, payload = channel_event(event)
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)  # serialised once for all
        self._publisher.publish(_channels_of(users), name, data)
        self.delivered += 1

    async def _recipients(self, event: DomainEvent) -> frozenset[int]:
        match event:
            case MessageReceived() | MessageStatusChanged():
                if event.hosted_sim_id is None:
                    return frozenset()
                return (await self._audience.of_sim_recent(event.hosted_sim_id)).message_readers
            case SimLocked() | SimUnlocked():
                # The lock changed: the SIM's message readers did too. Events come in bus order, so
                # every message event after this one sees the new lock (services/audience.py).
                self._audience.forget(event.hosted_sim_id)
                return (await self._audience.of_sim_recent(event.hosted_sim_id)).viewers
            case DeviceStatusChanged():
                return await self._audience.of_device(event.organization_id, event.hosted_sim_ids)
        return frozenset()


def _channels_of(users: Iterable[int]) -> list[str]:
    return [channel for user_id in sorted(users) for channel in user_channels(user_id)]
