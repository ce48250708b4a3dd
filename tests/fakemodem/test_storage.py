"""SIM storage semantics: lowest free slot, read marking, deletion flags, range checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.fakemodem.storage import DeleteFlag, MessageStatus, SimStorage, StorageIndexError


def test_store_takes_the_lowest_free_slot_and_reports_full() -> None:
    sim = SimStorage(3)
    assert [sim.store("A"), sim.store("B"), sim.store("C")] == [1, 2, 3]
    assert sim.store("D") is None and sim.is_full
    sim.delete(2)
    assert sim.store("E") == 2
    assert [(m.index, m.pdu) for m in sim.snapshot()] == [(1, "A"), (2, "E"), (3, "C")]


def test_read_and_list_return_the_old_status_and_mark_read() -> None:
    sim = SimStorage(5, first_index=0)
    sim.store("A")
    sim.store("B", MessageStatus.STORED_SENT)
    first = sim.read(0)
    assert first is not None and first.status is MessageStatus.RECEIVED_UNREAD
    assert sim.list(MessageStatus.RECEIVED_UNREAD) == ()
    assert [m.status for m in sim.list(None)] == [MessageStatus.RECEIVED_READ, MessageStatus.STORED_SENT]
    assert sim.read(3) is None
    with pytest.raises(StorageIndexError, match="5 outside storage range 0..4"):
        sim.read(5)


@pytest.mark.parametrize(
    ("flag", "left"),
    [
        (DeleteFlag.READ, {"unread", "unsent", "sent"}),
        (DeleteFlag.READ_AND_SENT, {"unread", "unsent"}),
        (DeleteFlag.READ_SENT_AND_UNSENT, {"unread"}),
        (DeleteFlag.ALL, set()),
    ],
)
def test_delete_flags(flag: DeleteFlag, left: set[str]) -> None:
    sim = SimStorage(10)
    for pdu, status in [
        ("unread", MessageStatus.RECEIVED_UNREAD),
        ("read", MessageStatus.RECEIVED_READ),
        ("unsent", MessageStatus.STORED_UNSENT),
        ("sent", MessageStatus.STORED_SENT),
    ]:
        sim.store(pdu, status)
    sim.delete(99, flag)  # the index is ignored when a flag is given
    assert {m.pdu for m in sim.snapshot()} == left


@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=6)), max_size=60))
def test_used_never_exceeds_total_and_indexes_stay_in_range(operations: list[tuple[bool, int]]) -> None:
    sim = SimStorage(6)
    for is_store, index in operations:
        if is_store:
            sim.store("X")
        else:
            sim.delete(index)
        assert 0 <= sim.used <= sim.total
        assert all(sim.in_range(m.index) for m in sim.snapshot())
        assert len({m.index for m in sim.snapshot()}) == sim.used
