"""The NOTIFY payload codec: every domain event survives the round trip, payloads stay under PostgreSQL's
8000-byte limit, and a message text too long for it is left out to be fetched by id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.delivery.pg_notify import (
    NOTIFY_PAYLOAD_LIMIT_BYTES,
    PayloadError,
    decode_event,
    encode_event,
)
from gatewayd.events import (
    DeviceStatusChanged,
    DomainEvent,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
)

ids = st.integers(min_value=1, max_value=2**62)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
texts = st.text(max_size=1600)
optional_texts = st.none() | texts

events: st.SearchStrategy[DomainEvent] = st.one_of(
    st.builds(MessageReceived, ids, ids, texts, optional_texts, optional_texts, moments),
    st.builds(MessageStatusChanged, ids, st.none() | ids, st.sampled_from(["queued", "sent"]),
              optional_texts),
    st.builds(SimLocked, ids, ids, ids, texts, moments),
    st.builds(SimUnlocked, ids, ids, ids, st.sampled_from(["released", "expired"])),
    st.builds(DeviceStatusChanged, ids, ids, st.lists(ids, max_size=20).map(tuple), st.booleans(), texts),
)


@given(events)
def test_every_event_survives_the_round_trip_within_the_limit(event: DomainEvent) -> None:
    payload = encode_event(event, "origin-1")
    assert len(payload.encode()) < NOTIFY_PAYLOAD_LIMIT_BYTES
    origin, decoded, fetch = decode_event(payload)
    assert origin == "origin-1"
    if fetch:
        assert fetch == ["text"] and isinstance(event, MessageReceived)
        assert decoded == MessageReceived(**{**event.__dict__, "text": None})
    else:
        assert decoded == event


def test_a_text_beyond_the_limit_is_left_out_for_fetching() -> None:
    # 1600 four-byte emoji: 6400 bytes of UTF-8, plus the envelope, over a 6000-byte limit.
    event = MessageReceived(7, 3, "+4915100000001", None, "😀" * 1600, datetime(2026, 5, 1, tzinfo=UTC))
    _, decoded, fetch = decode_event(encode_event(event, "o", limit=6000))
    assert fetch == ["text"] and isinstance(decoded, MessageReceived)
    assert decoded.text is None and decoded.message_id == 7
    _, whole, none = decode_event(encode_event(event, "o"))
    assert whole == event and none == []


def test_other_events_that_do_not_fit_are_refused_with_evidence() -> None:
    event = DeviceStatusChanged(1, 2, tuple(range(100_000, 102_000)), True, "online")
    with pytest.raises(PayloadError, match="does not fit"):
        encode_event(event, "o")


@pytest.mark.parametrize("payload", ["not json", '{"type": "Nope", "fields": {}, "origin": "x"}',
                                     '{"type": "SimUnlocked", "fields": {"bogus": 1}, "origin": "x"}'])
def test_garbage_notifications_are_refused_with_the_payload(payload: str) -> None:
    with pytest.raises(PayloadError, match="cannot decode"):
        decode_event(payload)
