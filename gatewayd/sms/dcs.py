"""TP-DCS data coding scheme (TS 23.038 §4): which alphabet the user data uses and its message class.

Interprets and builds the one octet; it does not touch the user data.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatewayd.sms.model import Encoding
from gatewayd.sms.octets import OctetReader

_ALPHABET_BY_BITS = {0b00: Encoding.GSM7, 0b01: Encoding.BINARY, 0b10: Encoding.UCS2}
_DCS_FOR_ENCODING = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08, Encoding.BINARY: 0x04}


@dataclass(frozen=True)
class DataCoding:
    encoding: Encoding
    message_class: int | None


class CompressedDataError(ValueError):
    """TS 23.038 §4 bit 5 of the general groups: compressed text (TS 23.042), which nobody implements."""


def interpret(dcs: int) -> DataCoding:
    """Decode the DCS octet; CompressedDataError for compressed data.

    Reserved alphabets and the reserved groups 1000..1011 are read as GSM-7 (TS 23.038 §4: "any reserved
    codings shall be assumed to be the GSM 7 bit default alphabet").
    """
    group = dcs >> 4
    if group <= 0b0111:  # 00xx general data coding, 01xx the same marked for automatic deletion
        if dcs & 0x20:
            raise CompressedDataError(f"DCS 0x{dcs:02X} announces compressed user data")
        message_class = dcs & 0x03 if dcs & 0x10 else None
        return DataCoding(_ALPHABET_BY_BITS.get((dcs >> 2) & 0x03, Encoding.GSM7), message_class)
    if group in (0b1100, 0b1101):  # message waiting indication, discard / store, GSM-7
        return DataCoding(Encoding.GSM7, None)
    if group == 0b1110:  # message waiting indication, store, UCS-2
        return DataCoding(Encoding.UCS2, None)
    if group == 0b1111:  # data coding / message class: bit 2 chooses GSM-7 or 8-bit
        return DataCoding(Encoding.BINARY if dcs & 0x04 else Encoding.GSM7, dcs & 0x03)
    return DataCoding(Encoding.GSM7, None)


def build(encoding: Encoding) -> int:
    """The plain general-group DCS for an encoding, no message class."""
    return _DCS_FOR_ENCODING[encoding]


def read_coding(reader: OctetReader) -> tuple[int, DataCoding]:
    """Read TP-DCS at the reader's position: (the octet, what it means); compressed data is a PduError."""
    octet = reader.octet("TP-DCS")
    try:
        return octet, interpret(octet)
    except CompressedDataError as error:
        raise reader.error(str(error)) from None
