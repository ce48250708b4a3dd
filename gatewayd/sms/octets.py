"""Bounds-checked reading of PDU octets: every short read becomes a PduError naming the PDU and offset.

Only a cursor over bytes; it does not interpret any field.
"""

from __future__ import annotations

import binascii

from gatewayd.sms.model import PduError


def parse_hex(pdu_hex: str) -> bytes:
    """Hex text (any case, surrounding whitespace allowed) to bytes; PduError on anything else."""
    cleaned = pdu_hex.strip()
    if len(cleaned) % 2:
        raise PduError("odd number of hex digits", pdu_hex)
    try:
        return binascii.unhexlify(cleaned)
    except (binascii.Error, ValueError) as error:
        raise PduError(f"not hexadecimal ({error})", pdu_hex) from None


class OctetReader:
    """A cursor over one PDU's octets that raises PduError, never IndexError."""

    def __init__(self, data: bytes, pdu_hex: str) -> None:
        self.data = data
        self.pdu_hex = pdu_hex
        self.position = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position

    def error(self, reason: str) -> PduError:
        """A PduError for the current position, carrying the whole PDU."""
        return PduError(reason, self.pdu_hex, self.position)

    def octet(self, field: str) -> int:
        if self.remaining < 1:
            raise self.error(f"PDU ends before {field}")
        value = self.data[self.position]
        self.position += 1
        return value

    def take(self, count: int, field: str) -> bytes:
        if self.remaining < count:
            raise self.error(f"{field} needs {count} octets, only {self.remaining} left")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.position :]
        self.position = len(self.data)
        return chunk

    def expect_end(self, field: str) -> None:
        """Trailing octets after the last field mean a length lied; say so rather than guess."""
        if self.remaining:
            raise self.error(f"{self.remaining} unexpected octets after {field}")
