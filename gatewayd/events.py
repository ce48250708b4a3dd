"""Domain events and the in-process bus that carries them to live consumers (the realtime feed).

Events are published only after the transaction that produced them has committed. The bus is for live,
best-effort consumers: a subscriber that falls behind loses events and is told so (`overflowed`), it never
slows the publisher. Anything that must not be lost (webhooks) goes through the transactional outbox in
the store instead. A PostgreSQL LISTEN/NOTIFY bus can stand behind the same `EventBus` interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

SUBSCRIBER_QUEUE_SIZE = 10_000


@dataclass(frozen=True)
class MessageReceived:
    message_id: int
    hosted_sim_id: int
    sender: str
    recipient: str | None
    text: str | None
    received_at: datetime


@dataclass(frozen=True)
class MessageStatusChanged:
    message_id: int
    hosted_sim_id: int | None
    status: str  # queued, sending, sent, delivered, failed
    error: str | None


@dataclass(frozen=True)
class SimLocked:
    hosted_sim_id: int
    lock_id: int
    user_id: int
    user_name: str
    expires_at: datetime


@dataclass(frozen=True)
class SimUnlocked:
    hosted_sim_id: int
    lock_id: int
    user_id: int  # who held it
    reason: str  # released, expired


@dataclass(frozen=True)
class DeviceStatusChanged:
    device_id: int
    organization_id: int
    hosted_sim_ids: tuple[int, ...]
    is_online: bool
    status: str


DomainEvent = MessageReceived | MessageStatusChanged | SimLocked | SimUnlocked | DeviceStatusChanged


class Subscription(Protocol):
    overflowed: bool

    def __aiter__(self) -> AsyncIterator[DomainEvent]: ...
    def close(self) -> None: ...


class EventBus(Protocol):
    def publish(self, event: DomainEvent) -> None:
        """Never blocks and never raises for a slow subscriber."""

    def subscribe(self) -> Subscription: ...


class _LocalSubscription:
    def __init__(self, bus: LocalEventBus, size: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[DomainEvent | None] = asyncio.Queue(size)
        self.overflowed = False

    def offer(self, event: DomainEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def close(self) -> None:
        self._bus._subscribers.discard(self)
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            self.overflowed = True

    async def __aiter__(self) -> AsyncIterator[DomainEvent]:
        while (event := await self._queue.get()) is not None:
            yield event


class LocalEventBus:
    """Fan-out inside one process: each subscriber has its own bounded queue."""

    def __init__(self, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: set[_LocalSubscription] = set()

    def publish(self, event: DomainEvent) -> None:
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def subscribe(self) -> _LocalSubscription:
        subscription = _LocalSubscription(self, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    def events_may_be_lost(self) -> None:
        """Tell every subscriber (`overflowed`) that events may have been lost upstream of this bus,
        e.g. while the connection that carries other processes' events was down."""
        for subscriber in self._subscribers:
            subscriber.overflowed = True
