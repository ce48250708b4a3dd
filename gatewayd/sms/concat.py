"""Reassembly of concatenated SMS (TS 23.040 §9.2.3.24.1): parts in any order, duplicates ignored, expiry.

Pure bookkeeping over decoded parts; it has no clock (callers pass monotonic times) and stores nothing.
Theory: parts are grouped by (sim_key, sender, reference, total). A group completes when every sequence
number 1..total is present; `expire(now)` releases groups whose first part is older than the timeout as
incomplete messages, so a lost part delays delivery of the rest by at most the timeout. Parts of a group
completed less than a timeout ago are remembered by their exact TPDU, so a late duplicate (re-read after a
crash, URC plus sweep) is dropped instead of opening a group that would later expire as a bogus fragment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gatewayd.sms.model import Deliver, Encoding

DEFAULT_TIMEOUT_S = 600.0

GroupKey = tuple[str, str, int, int]  # sim_key, sender, reference, total


def _joined_text(parts: tuple[Deliver, ...]) -> str | None:
    if not parts or parts[0].encoding is Encoding.BINARY:
        return None
    if all(part.encoding is Encoding.UCS2 for part in parts):
        # Decode the joined octets, not each part: some phones split a surrogate pair between parts.
        return b"".join(part.data for part in parts).decode("utf-16-be", errors="replace")
    return "".join(part.text or "" for part in parts)


@dataclass(frozen=True)
class Reassembled:
    """A message made of one or more parts, in sequence order."""

    sim_key: str
    sender: str
    reference: int | None  # None for a message that was never concatenated
    total: int
    parts: tuple[Deliver, ...]

    @property
    def text(self) -> str | None:
        """The parts' text joined in sequence order; None for 8-bit data."""
        return _joined_text(self.parts)

    @property
    def data(self) -> bytes:
        return b"".join(part.data for part in self.parts)

    @property
    def first(self) -> Deliver:
        """The lowest-numbered part present; its timestamp, sender type and encoding stand for the whole."""
        return self.parts[0]


@dataclass(frozen=True)
class Completed(Reassembled):
    """Every part arrived."""

    incomplete: bool = field(default=False, init=False)


@dataclass(frozen=True)
class Expired(Reassembled):
    """The timeout passed with parts still missing; `parts` holds those that did arrive."""

    missing: tuple[int, ...] = ()
    incomplete: bool = field(default=True, init=False)


@dataclass
class _Group:
    first_received_at: float
    parts: dict[int, Deliver] = field(default_factory=dict)


class Reassembler:
    """Collects parts per (sim_key, sender, reference, total) until complete or expired."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self._groups: dict[GroupKey, _Group] = {}
        self._recently_completed: dict[tuple[str, str], float] = {}  # (sim_key, tpdu_hex) -> completed at

    @property
    def pending_groups(self) -> int:
        return len(self._groups)

    def add(self, sim_key: str, deliver: Deliver, received_at_monotonic: float) -> Completed | None:
        """Take one part; the whole message once its last part arrives, else None.

        A message without a concatenation header completes at once. A second copy of a part already held,
        or of a part of a message completed within the timeout, is ignored (the first copy wins).
        """
        concat = deliver.concat
        if concat is None:
            return Completed(sim_key, deliver.sender, None, 1, (deliver,))
        if (sim_key, deliver.tpdu_hex) in self._recently_completed:
            return None
        key: GroupKey = (sim_key, deliver.sender, concat.reference, concat.total)
        group = self._groups.setdefault(key, _Group(first_received_at=received_at_monotonic))
        group.parts.setdefault(concat.sequence, deliver)
        if len(group.parts) < concat.total:
            return None
        del self._groups[key]
        for part in group.parts.values():
            self._recently_completed[(sim_key, part.tpdu_hex)] = received_at_monotonic
        return Completed(sim_key, deliver.sender, concat.reference, concat.total, _in_order(group))

    def expire(self, now: float) -> list[Expired]:
        """Release every group whose first part arrived `timeout_s` or more before `now`."""
        self._recently_completed = {
            key: completed_at
            for key, completed_at in self._recently_completed.items()
            if now - completed_at < self.timeout_s
        }
        expired: list[Expired] = []
        for key, group in list(self._groups.items()):
            if now - group.first_received_at < self.timeout_s:
                continue
            del self._groups[key]
            sim_key, sender, reference, total = key
            missing = tuple(number for number in range(1, total + 1) if number not in group.parts)
            expired.append(Expired(sim_key, sender, reference, total, _in_order(group), missing=missing))
        return expired

    def next_expiry(self) -> float | None:
        """Monotonic time at which the oldest pending group expires, for the caller's timer."""
        if not self._groups:
            return None
        return min(group.first_received_at for group in self._groups.values()) + self.timeout_s


def _in_order(group: _Group) -> tuple[Deliver, ...]:
    return tuple(group.parts[number] for number in sorted(group.parts))
