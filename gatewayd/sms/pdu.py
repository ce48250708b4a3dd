"""Public face of our SMS PDU codec (TS 23.040 TPDUs, TS 23.038 alphabets): decode what modems print,
encode what AT+CMGS takes. Pure and stdlib-only; see docs/decisions/pdu-codec.md for why it is our own.
"""

from __future__ import annotations

from gatewayd.sms.address import read_smsc
from gatewayd.sms.deliver import encode_deliver, encode_deliver_parts, read_deliver
from gatewayd.sms.model import (
    AddressType,
    Concat,
    Deliver,
    Encoding,
    PduError,
    StatusReport,
    Submit,
    SubmitPart,
)
from gatewayd.sms.octets import OctetReader, parse_hex
from gatewayd.sms.segments import choose_encoding, segment_count
from gatewayd.sms.status_report import encode_status_report, read_status_report
from gatewayd.sms.submit import encode_submit, read_submit

__all__ = [
    "AddressType",
    "Concat",
    "Deliver",
    "Encoding",
    "PduError",
    "StatusReport",
    "Submit",
    "SubmitPart",
    "choose_encoding",
    "decode",
    "decode_deliver",
    "decode_status_report",
    "decode_submit",
    "encode_deliver",
    "encode_deliver_parts",
    "encode_status_report",
    "encode_submit",
    "segment_count",
]

_MTI_DELIVER = 0b00
_MTI_SUBMIT = 0b01
_MTI_STATUS_REPORT = 0b10
_MTI_RESERVED = 0b11


def _open(pdu_hex: str, with_smsc: bool) -> tuple[OctetReader, str | None, int]:
    """A reader positioned at the TPDU, the SMSC if present, and TP-MTI (peeked, not consumed)."""
    reader = OctetReader(parse_hex(pdu_hex), pdu_hex)
    smsc = read_smsc(reader) if with_smsc else None
    if reader.remaining < 1:
        raise reader.error("PDU ends before the TPDU")
    return reader, smsc, reader.data[reader.position] & 0x03


def decode(pdu_hex: str, *, with_smsc: bool = True) -> Deliver | StatusReport:
    """Decode a received PDU (AT+CMGR/CMGL/+CMT/+CDS) by its TP-MTI; PduError for anything else."""
    reader, smsc, mti = _open(pdu_hex, with_smsc)
    # TS 23.040 §9.2.3.1: a reserved TP-MTI received by an MS is processed as SMS-DELIVER.
    if mti in (_MTI_DELIVER, _MTI_RESERVED):
        return read_deliver(reader, smsc)
    if mti == _MTI_STATUS_REPORT:
        return read_status_report(reader, smsc)
    raise reader.error("TP-MTI 01 is an SMS-SUBMIT (a stored outgoing message), not a received one")


def decode_deliver(pdu_hex: str, *, with_smsc: bool = True) -> Deliver:
    """Decode an SMS-DELIVER; PduError if the PDU is malformed or another type."""
    reader, smsc, mti = _open(pdu_hex, with_smsc)
    if mti not in (_MTI_DELIVER, _MTI_RESERVED):
        raise reader.error(f"TP-MTI {mti:02b} is not an SMS-DELIVER")
    return read_deliver(reader, smsc)


def decode_status_report(pdu_hex: str, *, with_smsc: bool = True) -> StatusReport:
    """Decode an SMS-STATUS-REPORT; PduError if the PDU is malformed or another type."""
    reader, smsc, mti = _open(pdu_hex, with_smsc)
    if mti != _MTI_STATUS_REPORT:
        raise reader.error(f"TP-MTI {mti:02b} is not an SMS-STATUS-REPORT")
    return read_status_report(reader, smsc)


def decode_submit(pdu_hex: str, *, with_smsc: bool = True) -> Submit:
    """Decode an SMS-SUBMIT (what AT+CMGS carries); PduError if malformed or another type."""
    reader, smsc, mti = _open(pdu_hex, with_smsc)
    if mti != _MTI_SUBMIT:
        raise reader.error(f"TP-MTI {mti:02b} is not an SMS-SUBMIT")
    return read_submit(reader, smsc)
