"""SIM message storage of an emulated modem: numbered slots holding PDUs with a 3GPP TS 27.005 status.

Pure data structure; it knows nothing about AT framing or PDUs beyond keeping their hex text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class MessageStatus(IntEnum):
    """`<stat>` of TS 27.005 §3.1 in PDU mode."""

    RECEIVED_UNREAD = 0
    RECEIVED_READ = 1
    STORED_UNSENT = 2
    STORED_SENT = 3


class DeleteFlag(IntEnum):
    """`<delflag>` of AT+CMGD (TS 27.005 §3.5.4): which messages go besides the given index."""

    INDEX_ONLY = 0
    READ = 1
    READ_AND_SENT = 2
    READ_SENT_AND_UNSENT = 3
    ALL = 4


_DELETED_BY_FLAG: dict[DeleteFlag, frozenset[MessageStatus]] = {
    DeleteFlag.READ: frozenset({MessageStatus.RECEIVED_READ}),
    DeleteFlag.READ_AND_SENT: frozenset({MessageStatus.RECEIVED_READ, MessageStatus.STORED_SENT}),
    DeleteFlag.READ_SENT_AND_UNSENT: frozenset(
        {MessageStatus.RECEIVED_READ, MessageStatus.STORED_SENT, MessageStatus.STORED_UNSENT}
    ),
    DeleteFlag.ALL: frozenset(MessageStatus),
}


@dataclass(frozen=True)
class StoredMessage:
    index: int
    status: MessageStatus
    pdu: str


class StorageIndexError(IndexError):
    """An index outside the storage's range (a modem answers `+CMS ERROR: 321`)."""

    def __init__(self, index: int, first: int, last: int) -> None:
        super().__init__(f"index {index} outside storage range {first}..{last}")
        self.index = index


class SimStorage:
    """Fixed number of slots numbered from `first_index` (1 on SIMCom/Quectel, 0 on some Huawei sticks)."""

    def __init__(self, size: int, *, first_index: int = 1) -> None:
        if size < 1:
            raise ValueError(f"storage size must be at least 1, got {size}")
        self._size = size
        self._first = first_index
        self._slots: dict[int, StoredMessage] = {}

    @property
    def total(self) -> int:
        return self._size

    @property
    def used(self) -> int:
        return len(self._slots)

    @property
    def is_full(self) -> bool:
        return len(self._slots) >= self._size

    @property
    def first_index(self) -> int:
        return self._first

    def snapshot(self) -> tuple[StoredMessage, ...]:
        """All stored messages, by index; an immutable copy."""
        return tuple(self._slots[i] for i in sorted(self._slots))

    def store(self, pdu: str, status: MessageStatus = MessageStatus.RECEIVED_UNREAD) -> int | None:
        """Put a PDU in the lowest free slot and return its index, or None when every slot is taken."""
        for index in range(self._first, self._first + self._size):
            if index not in self._slots:
                self._slots[index] = StoredMessage(index, status, pdu)
                return index
        return None

    def read(self, index: int) -> StoredMessage | None:
        """The message at `index` as it was before reading; an unread one is marked read (as AT+CMGR does)."""
        self._check(index)
        message = self._slots.get(index)
        if message is not None and message.status is MessageStatus.RECEIVED_UNREAD:
            self._slots[index] = StoredMessage(index, MessageStatus.RECEIVED_READ, message.pdu)
        return message

    def list(self, status: MessageStatus | None) -> tuple[StoredMessage, ...]:
        """Messages with `status` (all when None), as they were; unread ones listed are marked read."""
        listed = tuple(m for m in self.snapshot() if status is None or m.status is status)
        for message in listed:
            if message.status is MessageStatus.RECEIVED_UNREAD:
                self._slots[message.index] = StoredMessage(
                    message.index, MessageStatus.RECEIVED_READ, message.pdu
                )
        return listed

    def delete(self, index: int, flag: DeleteFlag = DeleteFlag.INDEX_ONLY) -> int:
        """Delete like AT+CMGD; returns how many messages went. An empty slot in range is not an error."""
        if flag is DeleteFlag.INDEX_ONLY:
            self._check(index)
            return 1 if self._slots.pop(index, None) is not None else 0
        doomed = [i for i, m in self._slots.items() if m.status in _DELETED_BY_FLAG[flag]]
        for i in doomed:
            del self._slots[i]
        return len(doomed)

    def in_range(self, index: int) -> bool:
        return self._first <= index < self._first + self._size

    def _check(self, index: int) -> None:
        if not self.in_range(index):
            raise StorageIndexError(index, self._first, self._first + self._size - 1)
