"""TP-UD user data: the user data header (TS 23.040 §9.2.3.24) and the text or octets after it.

Handles GSM-7 fill bits after a header, UCS-2 as UTF-16-BE and 8-bit data; reads lengths from TP-UDL only.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatewayd.sms import gsm7
from gatewayd.sms.model import Concat, Encoding
from gatewayd.sms.octets import OctetReader

MAX_USER_DATA_OCTETS = 140  # TS 23.040 §9.2.3.16
MAX_GSM7_SEPTETS = 160
_IEI_CONCAT_8BIT = 0x00  # TS 23.040 §9.2.3.24.1
_IEI_CONCAT_16BIT = 0x08  # TS 23.040 §9.2.3.24.8


@dataclass(frozen=True)
class UserData:
    text: str | None
    data: bytes  # the octets after the header
    concat: Concat | None


def header_septets(header_octets: int) -> int:
    """Septets a GSM-7 user data header occupies, fill bits included (TS 23.040 §9.2.3.24, fig. (b))."""
    return (8 * header_octets + 6) // 7


def concat_header(concat: Concat) -> bytes:
    """The whole header (UDHL first) carrying one concatenation element."""
    if concat.reference_bits not in (8, 16) or not 0 <= concat.reference < 1 << concat.reference_bits:
        raise ValueError(f"{concat} needs reference_bits 8 or 16 and a reference that fits them")
    if not 1 <= concat.sequence <= concat.total <= 255:
        raise ValueError(f"{concat} needs 1 <= sequence <= total <= 255")
    if concat.reference_bits == 8:
        element = bytes((_IEI_CONCAT_8BIT, 3, concat.reference, concat.total, concat.sequence))
    else:
        high, low = divmod(concat.reference, 256)
        element = bytes((_IEI_CONCAT_16BIT, 4, high, low, concat.total, concat.sequence))
    return bytes((len(element),)) + element


def header_octets_for(reference_bits: int) -> int:
    """Length of `concat_header` including the UDHL octet."""
    return 6 if reference_bits == 8 else 7


def _parse_concat(iei: int, value: bytes) -> Concat | None:
    if iei == _IEI_CONCAT_8BIT and len(value) == 3:
        reference, total, sequence, bits = value[0], value[1], value[2], 8
    elif iei == _IEI_CONCAT_16BIT and len(value) == 4:
        reference, total, sequence, bits = int.from_bytes(value[:2], "big"), value[2], value[3], 16
    else:
        return None
    if total == 0 or not 1 <= sequence <= total:
        return None  # §9.2.3.24.1: such an element "shall be ignored"
    return Concat(reference=reference, total=total, sequence=sequence, reference_bits=bits)


def _parse_header(reader: OctetReader, header: bytes) -> Concat | None:
    """Walk the information elements; unknown ones are skipped, the last concatenation element wins."""
    concat: Concat | None = None
    index = 0
    while index < len(header):
        if index + 2 > len(header):
            raise reader.error(f"user data header {header.hex().upper()} ends inside an element")
        iei, length = header[index], header[index + 1]
        value = header[index + 2 : index + 2 + length]
        if len(value) != length:
            raise reader.error(f"user data header {header.hex().upper()}: element 0x{iei:02X} overruns it")
        concat = _parse_concat(iei, value) or concat
        index += 2 + length
    return concat


def _split_header(reader: OctetReader, user_data: bytes, has_header: bool) -> tuple[bytes, Concat | None]:
    if not has_header:
        return user_data, None
    if not user_data:
        raise reader.error("TP-UDHI is set but the user data is empty")
    header_length = user_data[0]
    if 1 + header_length > len(user_data):
        raise reader.error(f"UDHL {header_length} exceeds the {len(user_data)} octets of user data")
    concat = _parse_header(reader, user_data[1 : 1 + header_length])
    return user_data[1 + header_length :], concat


def read_user_data(reader: OctetReader, encoding: Encoding, *, has_header: bool) -> UserData:
    """Read TP-UDL and TP-UD; the UDL bounds everything (a trailing '@' septet is data, not padding)."""
    length = reader.octet("TP-UDL")
    if encoding is Encoding.GSM7:
        return _read_gsm7(reader, length, has_header)
    if length > MAX_USER_DATA_OCTETS:
        raise reader.error(f"TP-UDL {length} exceeds {MAX_USER_DATA_OCTETS} octets")
    payload, concat = _split_header(reader, reader.take(length, "TP-UD"), has_header)
    if encoding is Encoding.BINARY:
        return UserData(text=None, data=payload, concat=concat)
    # A lone surrogate or odd octet from a broken sender becomes U+FFFD, so the text is always valid UTF-8.
    return UserData(text=payload.decode("utf-16-be", errors="replace"), data=payload, concat=concat)


def _read_gsm7(reader: OctetReader, septet_count: int, has_header: bool) -> UserData:
    if septet_count > MAX_GSM7_SEPTETS:
        raise reader.error(f"TP-UDL {septet_count} exceeds {MAX_GSM7_SEPTETS} septets")
    user_data = reader.take(gsm7.packed_octet_count(septet_count), "TP-UD")
    payload, concat = _split_header(reader, user_data, has_header)
    text_septets = septet_count
    fill_bits = 0
    if has_header:
        header_length = len(user_data) - len(payload)
        used_septets = header_septets(header_length)
        if used_septets > septet_count:
            raise reader.error(f"TP-UDL {septet_count} septets cannot hold a {header_length}-octet header")
        text_septets = septet_count - used_septets
        fill_bits = 7 * used_septets - 8 * header_length
    septets = gsm7.unpack(payload, text_septets, fill_bits=fill_bits)
    return UserData(text=gsm7.decode(septets), data=payload, concat=concat)


def encode_user_data(encoding: Encoding, payload: str | bytes, concat: Concat | None) -> tuple[int, bytes]:
    """TP-UDL and TP-UD for one part; ValueError when it does not fit in 140 octets."""
    header = concat_header(concat) if concat is not None else b""
    if encoding is Encoding.GSM7:
        if not isinstance(payload, str):
            raise ValueError("GSM-7 user data must be text")
        septets = gsm7.encode(payload)
        used = header_septets(len(header)) if header else 0
        length = used + len(septets)
        body = gsm7.pack(septets, fill_bits=7 * used - 8 * len(header))
        if length > MAX_GSM7_SEPTETS:
            raise ValueError(f"{length} septets exceed the {MAX_GSM7_SEPTETS} of one part")
        return length, header + body
    if encoding is Encoding.UCS2:
        if not isinstance(payload, str):
            raise ValueError("UCS-2 user data must be text")
        body = encode_ucs2(payload)
    else:
        if not isinstance(payload, bytes):
            raise ValueError("8-bit user data must be bytes")
        body = payload
    user_data = header + body
    if len(user_data) > MAX_USER_DATA_OCTETS:
        raise ValueError(f"{len(user_data)} octets of user data exceed {MAX_USER_DATA_OCTETS} (one part)")
    return len(user_data), user_data


def encode_ucs2(text: str) -> bytes:
    """UTF-16-BE (astral characters as surrogate pairs); ValueError for a lone surrogate in `text`."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as error:
        bad = text[error.start : error.end]
        raise ValueError(f"text contains an unpaired surrogate {bad!r} at index {error.start}") from None
