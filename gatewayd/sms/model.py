"""Value types of the SMS codec (decoded TPDUs, submit parts) and its error; `pdu.py` re-exports them.

Plain frozen data: no parsing or encoding logic lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PduError(ValueError):
    """A PDU we were given is malformed; carries the offending hex, what was wrong and where."""

    def __init__(self, reason: str, pdu_hex: str, offset: int | None = None) -> None:
        where = f" at octet {offset}" if offset is not None else ""
        super().__init__(f"{reason}{where}: {pdu_hex}")
        self.reason = reason
        self.pdu_hex = pdu_hex
        self.offset = offset


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"
    BINARY = "8bit"


class AddressType(StrEnum):
    INTERNATIONAL = "international"
    NATIONAL = "national"
    ALPHANUMERIC = "alphanumeric"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Concat:
    """Concatenation information element (TS 23.040 §9.2.3.24.1 and .8)."""

    reference: int
    total: int
    sequence: int
    reference_bits: int  # 8 (IEI 0x00) or 16 (IEI 0x08)


@dataclass(frozen=True)
class Deliver:
    """An SMS-DELIVER TPDU (TS 23.040 §9.2.2.1)."""

    smsc: str | None
    sender: str  # "+4917..." for international, digits for national, text for alphanumeric
    sender_type: AddressType
    sc_timestamp: datetime  # aware, with the offset the SC sent
    encoding: Encoding
    text: str | None  # None for 8-bit data
    data: bytes  # user data without the UDH: the 8-bit bytes, or the raw (packed / UTF-16) text octets
    concat: Concat | None
    protocol_id: int
    dcs: int
    message_class: int | None
    tpdu_hex: str  # uppercase hex of the TPDU without the SMSC part


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT TPDU (TS 23.040 §9.2.2.3); TP-ST values per §9.2.3.15."""

    smsc: str | None
    message_reference: int
    recipient: str
    sc_timestamp: datetime
    discharge_time: datetime
    status: int
    tpdu_hex: str

    @property
    def delivered(self) -> bool:
        """Short message transaction completed (0x00..0x1F)."""
        return self.status <= 0x1F

    @property
    def pending(self) -> bool:
        """Temporary error, the SC is still trying (0x20..0x3F)."""
        return 0x20 <= self.status <= 0x3F

    @property
    def failed(self) -> bool:
        """Permanent error, or temporary error after which the SC stopped trying (>= 0x40)."""
        return self.status >= 0x40


@dataclass(frozen=True)
class SubmitPart:
    """One SMS-SUBMIT PDU to send with AT+CMGS=<tpdu_length> in PDU mode."""

    pdu_hex: str  # starts with "00": use the SMSC stored on the SIM
    tpdu_length: int  # octets of the TPDU, i.e. without the SMSC part
    sequence: int
    total: int


@dataclass(frozen=True)
class Submit:
    """An SMS-SUBMIT TPDU as decoded (TS 23.040 §9.2.2.2); what a fake modem receives from AT+CMGS."""

    smsc: str | None
    message_reference: int
    recipient: str
    recipient_type: AddressType
    status_report: bool
    validity_minutes: int | None  # relative validity period, None when absent
    encoding: Encoding
    text: str | None
    data: bytes
    concat: Concat | None
    protocol_id: int
    dcs: int
    tpdu_hex: str
