"""SMS-DELIVER (TS 23.040 §9.2.2.1): reading what the network delivered and manufacturing it for tests.

The encoder exists for the fake modem and tests; the daemon itself only decodes.
"""

from __future__ import annotations

from datetime import datetime

from gatewayd.sms import address, dcs, segments, timestamp, userdata
from gatewayd.sms.model import AddressType, Concat, Deliver, Encoding
from gatewayd.sms.octets import OctetReader

_FIRST_OCTET_NO_MORE_MESSAGES = 0x04  # TP-MMS set: no more messages waiting in the SC (§9.2.3.2)
_UDHI = 0x40  # TP-UDHI (§9.2.3.23)


def read_deliver(reader: OctetReader, smsc: str | None) -> Deliver:
    """Read the TPDU from the reader's position (its first octet has already been peeked, not consumed)."""
    tpdu_start = reader.position
    first_octet = reader.octet("TP-MTI octet")
    sender, sender_type = address.read_address(reader, "TP-OA")
    protocol_id = reader.octet("TP-PID")
    coding_octet, coding = dcs.read_coding(reader)
    sc_timestamp = timestamp.read_timestamp(reader, "TP-SCTS")
    user_data = userdata.read_user_data(reader, coding.encoding, has_header=bool(first_octet & _UDHI))
    reader.expect_end("TP-UD")
    return Deliver(
        smsc=smsc,
        sender=sender,
        sender_type=sender_type,
        sc_timestamp=sc_timestamp,
        encoding=coding.encoding,
        text=user_data.text,
        data=user_data.data,
        concat=user_data.concat,
        protocol_id=protocol_id,
        dcs=coding_octet,
        message_class=coding.message_class,
        tpdu_hex=reader.data[tpdu_start:].hex().upper(),
    )


def _resolve_encoding(payload: str | bytes, encoding: Encoding | None) -> Encoding:
    if encoding is not None:
        return encoding
    if isinstance(payload, bytes):
        return Encoding.BINARY
    return segments.choose_encoding(payload)


def encode_deliver(
    sender: str,
    payload: str | bytes,
    *,
    sc_timestamp: datetime,
    encoding: Encoding | None = None,
    smsc: str | None = None,
    concat: Concat | None = None,
) -> str:
    """Full PDU hex, SMSC part included, as AT+CMGR/CMGL print it. `payload` bytes means 8-bit data.

    ValueError when the payload does not fit one part or does not suit the encoding.
    """
    chosen = _resolve_encoding(payload, encoding)
    user_data_length, user_data = userdata.encode_user_data(chosen, payload, concat)
    first_octet = _FIRST_OCTET_NO_MORE_MESSAGES | (_UDHI if concat is not None else 0)
    tpdu = (
        bytes((first_octet,))
        + address.encode_address(sender, digits_type=AddressType.NATIONAL, allow_alphanumeric=True)
        + bytes((0x00, dcs.build(chosen)))  # TP-PID 0: plain short message
        + timestamp.encode_timestamp(sc_timestamp)
        + bytes((user_data_length,))
        + user_data
    )
    return (address.encode_smsc(smsc) + tpdu).hex().upper()


def encode_deliver_parts(
    sender: str,
    payload: str | bytes,
    *,
    sc_timestamp: datetime,
    reference: int,
    reference_bits: int = 8,
    encoding: Encoding | None = None,
    smsc: str | None = None,
) -> list[str]:
    """The PDUs a network delivers for a whole message: one without a header if it fits, else a
    concatenated series split exactly as `encode_submit` would split it."""
    if not 0 <= reference < 1 << reference_bits:
        raise ValueError(f"reference {reference} does not fit in {reference_bits} bits")
    chosen = _resolve_encoding(payload, encoding)
    parts = segments.split(payload, chosen, reference_bits=reference_bits)
    if len(parts) == 1:
        return [encode_deliver(sender, parts[0], sc_timestamp=sc_timestamp, encoding=chosen, smsc=smsc)]
    return [
        encode_deliver(
            sender,
            part,
            sc_timestamp=sc_timestamp,
            encoding=chosen,
            smsc=smsc,
            concat=Concat(reference, len(parts), number, reference_bits),
        )
        for number, part in enumerate(parts, start=1)
    ]
