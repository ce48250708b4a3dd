"""An `EventBus` across processes over PostgreSQL LISTEN/NOTIFY: every gateway and API process on one database
sees every domain event (realtime fan-out, outbox and webhook wake-ups). Best effort, like the local bus.

Theory of operation. `publish` hands the event to this process's subscribers at once (a `LocalEventBus`) and
queues its JSON for NOTIFY; one task owns one asyncpg connection that both LISTENs and sends. A notification
carries its origin id, so a process skips its own events (it already delivered them). NOTIFY payloads are
limited to 8000 bytes (PostgreSQL docs, NOTIFY): a message text that does not fit is left out and fetched
by id from the store on arrival. When the connection drops, the task reconnects with a capped backoff; events
of the gap are lost to other processes, which is why every consumer that must not miss work (the modem
outbox, the webhook worker) also looks at the store on a safety timer. Never raises into `publish`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import types
import typing
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.events import (
    SUBSCRIBER_QUEUE_SIZE,
    DeviceStatusChanged,
    DomainEvent,
    LocalEventBus,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
    Subscription,
)
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import Message

log = logging.getLogger(__name__)

CHANNEL: Final = "simrelay_events"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; keep a margin for the envelope.
NOTIFY_PAYLOAD_LIMIT_BYTES: Final = 7900
OUTGOING_QUEUE_SIZE: Final = 10_000
RECONNECT_FIRST_S: Final = 0.2
RECONNECT_MAX_S: Final = 5.0
CONNECT_TIMEOUT_S: Final = 10.0

EVENT_TYPES: Final[dict[str, type[DomainEvent]]] = {
    cls.__name__: cls
    for cls in (MessageReceived, MessageStatusChanged, SimLocked, SimUnlocked, DeviceStatusChanged)
}

TextFetcher = Callable[[int], Awaitable[str | None]]


class PayloadError(ValueError):
    """A notification we cannot turn back into an event; carries the payload."""


def encode_event(event: DomainEvent, origin: str, *, limit: int = NOTIFY_PAYLOAD_LIMIT_BYTES) -> str:
    """The NOTIFY payload of `event`; a too-long message text is left out (`fetch`), to be read by id."""
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        fields[field.name] = value
    envelope: dict[str, Any] = {"origin": origin, "type": type(event).__name__, "fields": fields}
    payload = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    if len(payload.encode()) < limit:
        return payload
    if isinstance(event, MessageReceived):
        fields["text"] = None
        envelope["fetch"] = ["text"]
        payload = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        if len(payload.encode()) < limit:
            return payload
    size = len(payload.encode())
    raise PayloadError(f"event does not fit a NOTIFY payload ({size} bytes): {payload[:200]}")


def decode_event(payload: str) -> tuple[str, DomainEvent, list[str]]:
    """(origin, event, fields to fetch) of a payload made by `encode_event`."""
    try:
        envelope = json.loads(payload)
        cls = EVENT_TYPES[envelope["type"]]
        hints = typing.get_type_hints(cls)
        values = {name: _field_value(hints[name], raw) for name, raw in envelope["fields"].items()}
        return str(envelope["origin"]), cls(**values), list(envelope.get("fetch", []))
    except (ValueError, KeyError, TypeError) as exc:
        raise PayloadError(f"cannot decode event notification {payload[:200]!r}: {exc}") from exc


def _field_value(hint: Any, raw: Any) -> Any:
    if raw is None:
        return None
    kinds = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    if datetime in kinds:
        return datetime.fromisoformat(raw)
    if any(typing.get_origin(kind) is tuple for kind in kinds):
        return tuple(raw)
    return raw


def asyncpg_dsn(url: str) -> str:
    """A libpq DSN for asyncpg from the SQLAlchemy URL (`postgresql+asyncpg://...`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def message_text_fetcher(sessions: async_sessionmaker[AsyncSession]) -> TextFetcher:
    """Reads a message text that did not fit its notification."""

    async def fetch(message_id: int) -> str | None:
        async with read_transaction(sessions) as session:
            return await session.scalar(select(Message.text).where(Message.id == message_id))

    return fetch


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class PgEventBus:
    """The bus for processes sharing one PostgreSQL; `run()` is a task owned by the runtime."""

    def __init__(
        self,
        connect: Connect,
        *,
        fetch_text: TextFetcher | None = None,
        channel: str = CHANNEL,
        queue_size: int = SUBSCRIBER_QUEUE_SIZE,
    ) -> None:
        self._connect = connect
        self._fetch_text = fetch_text
        self._channel = channel
        self._local = LocalEventBus(queue_size)
        self.origin = uuid.uuid4().hex
        self._outgoing: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTGOING_QUEUE_SIZE)
        self._extra_channels: dict[str, Callable[[str], None]] = {}
        self._incoming: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.listening = asyncio.Event()  # set while LISTEN is active (the runtime waits for the first)
        self.dropped = 0  # events not sent or not delivered (queue full, payload too big, connection lost)
        self.reconnects = 0

    @classmethod
    def for_url(cls, url: str, sessions: async_sessionmaker[AsyncSession] | None = None) -> PgEventBus:
        dsn = asyncpg_dsn(url)
        fetch = message_text_fetcher(sessions) if sessions is not None else None
        return cls(lambda: asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S), fetch_text=fetch)

    def publish(self, event: DomainEvent) -> None:
        self._local.publish(event)
        try:
            self._outgoing.put_nowait((self._channel, encode_event(event, self.origin)))
        except PayloadError:
            self.dropped += 1
            log.exception("event bus: not sent to other processes")
        except asyncio.QueueFull:
            self.dropped += 1

    def subscribe(self) -> Subscription:
        return self._local.subscribe()

    def listen_also(self, channel: str, on_payload: Callable[[str], None]) -> None:
        """Another NOTIFY channel on the same connection (call before `run`); `on_payload` gets every
        payload, ours included, on the event loop and must not block."""
        self._extra_channels[channel] = on_payload

    def notify(self, channel: str, payload: str) -> bool:
        """Queue a raw NOTIFY on `channel` (the caller keeps it under NOTIFY_PAYLOAD_LIMIT_BYTES)."""
        try:
            self._outgoing.put_nowait((channel, payload))
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    async def run(self) -> None:
        """Connect, LISTEN, send and receive until cancelled; reconnect when the connection is lost."""
        dispatcher = asyncio.create_task(self._dispatch(), name="pg-events-in")
        try:
            delay = RECONNECT_FIRST_S
            while True:
                try:
                    await self._session()
                    delay = RECONNECT_FIRST_S
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    log.warning("event bus: PostgreSQL connection lost (%s); reconnect in %.1f s", exc, delay)
                self.listening.clear()
                self.reconnects += 1
                self._local.events_may_be_lost()  # other processes' events while we were not listening
                await asyncio.sleep(delay)  # reconnect backoff, not waiting for something
                delay = min(delay * 2, RECONNECT_MAX_S)
        finally:
            dispatcher.cancel()
            await asyncio.gather(dispatcher, return_exceptions=True)

    async def _session(self) -> None:
        connection = await self._connect()
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            await connection.add_listener(self._channel, self._on_notification)
            for channel, on_payload in self._extra_channels.items():
                await connection.add_listener(channel, _raw_listener(on_payload))
            self.listening.set()
            while not lost.is_set():
                outgoing = await self._next_outgoing(lost)
                if outgoing is not None:
                    await connection.execute("SELECT pg_notify($1, $2)", *outgoing)
        finally:
            self.listening.clear()
            if not connection.is_closed():
                await connection.close(timeout=2)

    async def _next_outgoing(self, lost: asyncio.Event) -> tuple[str, str] | None:
        getter = asyncio.ensure_future(self._outgoing.get())
        waiter = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not getter.done():
                getter.cancel()
        return getter.result() if getter.done() and not getter.cancelled() else None

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._incoming.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped += 1
            self._local.events_may_be_lost()

    async def _dispatch(self) -> None:
        while True:
            payload = await self._incoming.get()
            try:
                origin, event, fetch = decode_event(payload)
                if origin == self.origin:
                    continue  # ours: local subscribers had it at publish time
                if "text" in fetch and isinstance(event, MessageReceived) and self._fetch_text is not None:
                    event = dataclasses.replace(event, text=await self._fetch_text(event.message_id))
                self._local.publish(event)
            except Exception:  # task boundary: one bad notification must not end the feed
                self.dropped += 1
                self._local.events_may_be_lost()
                log.exception("event bus: notification not delivered")


def _raw_listener(on_payload: Callable[[str], None]) -> Callable[[object, int, str, str], None]:
    def listener(_connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            on_payload(payload)
        except Exception:  # a callback of asyncpg's: one bad payload must not break the connection
            log.exception("event bus: extra channel handler failed on %r", payload[:200])

    return listener
