"""SMS-SUBMIT (TS 23.040 §9.2.2.2): building the PDUs for AT+CMGS, and reading them back (fake modem, tests).

TP-MR is always 0 (the modem assigns the reference); TP-VP is absent or relative.
"""

from __future__ import annotations

from datetime import timedelta

from gatewayd.sms import address, dcs, segments, userdata
from gatewayd.sms.model import AddressType, Concat, Submit, SubmitPart
from gatewayd.sms.octets import OctetReader

_MTI_SUBMIT = 0x01
_VPF_RELATIVE = 0x10  # TP-VPF = 10 (§9.2.3.3)
_VPF_MASK = 0x18
_SRR = 0x20  # TP-SRR: status report requested (§9.2.3.5)
_UDHI = 0x40
_USE_SIM_SMSC = b"\x00"
_MINUTES_PER_DAY = 24 * 60


def relative_validity_minutes(value: int) -> int:
    """Duration of a TP-VP relative value (TS 23.040 §9.2.3.12.1)."""
    if value <= 143:
        return (value + 1) * 5
    if value <= 167:
        return 12 * 60 + (value - 143) * 30
    if value <= 196:
        return (value - 166) * _MINUTES_PER_DAY
    return (value - 192) * 7 * _MINUTES_PER_DAY


def relative_validity_value(validity: timedelta) -> int:
    """The smallest TP-VP value lasting at least `validity` (63 weeks at most)."""
    wanted_minutes = validity.total_seconds() / 60
    for value in range(256):
        if relative_validity_minutes(value) >= wanted_minutes:
            return value
    return 255


def encode_submit(
    recipient: str,
    text: str,
    *,
    concat_reference: int,
    status_report: bool = True,
    validity: timedelta | None = None,
) -> list[SubmitPart]:
    """SMS-SUBMIT PDUs for `text`, GSM-7 when every character allows it, else UCS-2; split into 8-bit-
    reference concatenated parts when it does not fit one SMS. ValueError names what cannot be encoded.
    """
    if not 0 <= concat_reference <= 0xFF:
        raise ValueError(f"concat_reference {concat_reference} must be 0..255 (an 8-bit reference)")
    encoding = segments.choose_encoding(text)
    destination = address.encode_address(recipient, digits_type=AddressType.UNKNOWN, allow_alphanumeric=False)
    pieces = segments.split_text(text, encoding)
    total = len(pieces)
    if total > segments.MAX_PARTS:
        raise ValueError(f"text needs {total} parts, more than {segments.MAX_PARTS}")
    first_octet = _MTI_SUBMIT | (_SRR if status_report else 0)
    if validity is not None:
        first_octet |= _VPF_RELATIVE
    validity_octets = bytes((relative_validity_value(validity),)) if validity is not None else b""
    parts: list[SubmitPart] = []
    for sequence, piece in enumerate(pieces, start=1):
        concat = Concat(concat_reference, total, sequence, 8) if total > 1 else None
        user_data_length, user_data = userdata.encode_user_data(encoding, piece, concat)
        tpdu = (
            bytes((first_octet | (_UDHI if concat else 0), 0x00))  # TP-MR 0: the modem assigns it
            + destination
            + bytes((0x00, dcs.build(encoding)))
            + validity_octets
            + bytes((user_data_length,))
            + user_data
        )
        parts.append(SubmitPart((_USE_SIM_SMSC + tpdu).hex().upper(), len(tpdu), sequence, total))
    return parts


def _read_validity(reader: OctetReader, first_octet: int) -> int | None:
    validity_format = first_octet & _VPF_MASK
    if validity_format == _VPF_RELATIVE:
        return relative_validity_minutes(reader.octet("TP-VP"))
    if validity_format:  # enhanced (01) or absolute (11): 7 octets we do not interpret
        reader.take(7, "TP-VP")
    return None


def read_submit(reader: OctetReader, smsc: str | None) -> Submit:
    tpdu_start = reader.position
    first_octet = reader.octet("TP-MTI octet")
    message_reference = reader.octet("TP-MR")
    recipient, recipient_type = address.read_address(reader, "TP-DA")
    protocol_id = reader.octet("TP-PID")
    coding_octet, coding = dcs.read_coding(reader)
    validity_minutes = _read_validity(reader, first_octet)
    user_data = userdata.read_user_data(reader, coding.encoding, has_header=bool(first_octet & _UDHI))
    reader.expect_end("TP-UD")
    return Submit(
        smsc=smsc,
        message_reference=message_reference,
        recipient=recipient,
        recipient_type=recipient_type,
        status_report=bool(first_octet & _SRR),
        validity_minutes=validity_minutes,
        encoding=coding.encoding,
        text=user_data.text,
        data=user_data.data,
        concat=user_data.concat,
        protocol_id=protocol_id,
        dcs=coding_octet,
        tpdu_hex=reader.data[tpdu_start:].hex().upper(),
    )
