"""Reassembly of concatenated parts: any order, duplicates, keys that never mix, expiry by injected time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.sms.concat import Completed, Expired, Reassembler
from gatewayd.sms.pdu import Deliver, decode, encode_deliver_parts

MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
TEXT = "Part one. " * 20 + "Part two. " * 16 + "End."  # 3 GSM-7 parts


def parts(
    text: str = TEXT,
    *,
    sender: str = "+4917012345",
    reference: int = 42,
    bits: int = 8,
    moment: datetime = MOMENT,
) -> list[Deliver]:
    pdus = encode_deliver_parts(sender, text, sc_timestamp=moment, reference=reference, reference_bits=bits)
    decoded = [decode(pdu) for pdu in pdus]
    assert all(isinstance(message, Deliver) for message in decoded)
    return [message for message in decoded if isinstance(message, Deliver)]


def test_single_message_completes_at_once() -> None:
    [message] = parts("short")
    result = Reassembler().add("sim-a", message, 1.0)
    assert isinstance(result, Completed)
    assert (result.text, result.total, result.reference, result.incomplete) == ("short", 1, None, False)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_any_order_completes_on_the_last_part(order: tuple[int, ...]) -> None:
    reassembler = Reassembler()
    three = parts()
    results = [reassembler.add("sim-a", three[index], float(step)) for step, index in enumerate(order)]
    assert results[:2] == [None, None]
    done = results[2]
    assert isinstance(done, Completed)
    assert done.text == TEXT
    assert [part.concat.sequence for part in done.parts if part.concat] == [1, 2, 3]
    assert reassembler.pending_groups == 0


def test_duplicates_are_ignored() -> None:
    reassembler = Reassembler()
    first, second, third = parts()
    assert reassembler.add("sim-a", first, 0.0) is None
    assert reassembler.add("sim-a", first, 1.0) is None
    assert reassembler.add("sim-a", second, 2.0) is None
    assert reassembler.add("sim-a", second, 3.0) is None
    done = reassembler.add("sim-a", third, 4.0)
    assert done is not None and done.text == TEXT and len(done.parts) == 3


def test_keys_keep_sims_senders_references_and_totals_apart() -> None:
    reassembler = Reassembler()
    base = parts()
    others = [
        ("sim-b", base[1]),  # another SIM
        ("sim-a", parts(sender="+4917099999")[1]),  # another sender
        ("sim-a", parts(reference=43)[1]),  # another reference
        ("sim-a", parts(TEXT + "x" * 200)[1]),  # another total (4 parts)
    ]
    assert reassembler.add("sim-a", base[0], 0.0) is None
    for sim_key, message in others:
        assert reassembler.add(sim_key, message, 0.0) is None
    assert reassembler.add("sim-a", base[2], 0.0) is None
    assert reassembler.pending_groups == 5
    done = reassembler.add("sim-a", base[1], 0.0)
    assert done is not None and done.text == TEXT


def test_expiry_releases_incomplete_messages_with_missing_parts_listed() -> None:
    reassembler = Reassembler(timeout_s=600)
    first, _, third = parts()
    reassembler.add("sim-a", third, 100.0)
    reassembler.add("sim-a", first, 500.0)
    assert reassembler.next_expiry() == 700.0
    assert reassembler.expire(699.9) == []
    [expired] = reassembler.expire(700.0)
    assert isinstance(expired, Expired)
    assert expired.incomplete
    identity = (expired.sim_key, expired.sender, expired.reference, expired.total)
    assert identity == ("sim-a", "+4917012345", 42, 3)
    assert expired.missing == (2,)
    assert expired.text == (first.text or "") + (third.text or "")
    assert reassembler.pending_groups == 0 and reassembler.next_expiry() is None
    assert reassembler.expire(10_000.0) == []


def test_expiry_is_per_group() -> None:
    reassembler = Reassembler(timeout_s=10)
    reassembler.add("sim-a", parts(reference=1)[0], 0.0)
    reassembler.add("sim-a", parts(reference=2)[0], 5.0)
    assert [e.reference for e in reassembler.expire(10.0)] == [1]
    assert [e.reference for e in reassembler.expire(15.0)] == [2]


def test_ucs2_surrogate_pair_split_by_a_sender_is_healed() -> None:
    # Some phones split an emoji's surrogate pair between parts; decoding the joined octets restores it.
    # Our encoder refuses lone surrogates, so the two PDUs are written out: UDH, then "a" + high / low half.
    udh = "050003070201", "050003070202"
    first = decode(f"00440491515500084220923295858B{4 + 6:02X}{udh[0]}0061D83D")
    second = decode(f"00440491515500084220923295858B{2 + 6:02X}{udh[1]}DE00")
    assert isinstance(first, Deliver) and isinstance(second, Deliver)
    assert first.text == "a\ufffd" and second.text == "\ufffd"
    reassembler = Reassembler()
    reassembler.add("sim-a", second, 0.0)
    done = reassembler.add("sim-a", first, 0.0)
    assert done is not None and done.text == "a😀"


def test_binary_parts_join_their_data() -> None:
    pdus = encode_deliver_parts("+1555", bytes(range(256)) * 2, sc_timestamp=MOMENT, reference=5)
    reassembler = Reassembler()
    messages = [message for message in map(decode, pdus) if isinstance(message, Deliver)]
    results = [reassembler.add("sim-a", message, 0.0) for message in messages]
    done = results[-1]
    assert done is not None and done.text is None and done.data == bytes(range(256)) * 2


def test_late_duplicates_after_completion_are_dropped_until_the_timeout() -> None:
    reassembler = Reassembler(timeout_s=600)
    three = parts()
    for message in three:
        reassembler.add("sim-a", message, 0.0)
    assert reassembler.add("sim-a", three[1], 300.0) is None
    assert reassembler.pending_groups == 0 and reassembler.expire(300.0) == []
    # A genuinely new message reusing the reference (new SC timestamp) is not mistaken for a duplicate.
    again = parts(moment=MOMENT.replace(second=10))
    assert reassembler.add("sim-a", again[0], 301.0) is None
    assert reassembler.pending_groups == 1
    # Once the timeout has passed the memory is gone: the same old part opens a group again.
    assert [expired.reference for expired in reassembler.expire(1000.0)] == [42]
    assert reassembler.add("sim-a", three[1], 1000.0) is None and reassembler.pending_groups == 1


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Reassembler(timeout_s=0)


@given(st.permutations(range(5)), st.lists(st.integers(0, 4), max_size=6), st.sampled_from([8, 16]))
def test_any_order_with_duplicates_completes_exactly_once(
    order: list[int], duplicates: list[int], bits: int
) -> None:
    text = "ж" * (67 * 4 + 3)  # 5 UCS-2 parts with an 8-bit reference (and with a 16-bit one)
    five = parts(text, reference=300 % (1 << bits), bits=bits)
    assert len(five) == 5
    reassembler = Reassembler()
    seen = order[:-1]
    copies = [five[seen[number % len(seen)]] for number in duplicates]
    feed = [five[index] for index in seen] + copies + [five[order[-1]]]
    results = [reassembler.add("sim-a", message, 0.0) for message in feed]
    completed = [result for result in results if result is not None]
    assert len(completed) == 1 and completed[0].text == text
    for message in five:  # late copies of any part after completion change nothing
        assert reassembler.add("sim-a", message, 1.0) is None
    assert reassembler.pending_groups == 0
