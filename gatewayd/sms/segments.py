"""Choosing the alphabet and splitting a message into concatenated parts (TS 23.040 §9.2.3.24.1).

Splits on character boundaries only, so no part ends inside a GSM-7 escape pair or a UTF-16 surrogate pair.
"""

from __future__ import annotations

from collections.abc import Callable

from gatewayd.sms import gsm7
from gatewayd.sms.model import Encoding
from gatewayd.sms.userdata import (
    MAX_GSM7_SEPTETS,
    MAX_USER_DATA_OCTETS,
    encode_ucs2,
    header_octets_for,
    header_septets,
)

MAX_PARTS = 255  # TP-UD concatenation: the total is one octet


def choose_encoding(text: str) -> Encoding:
    """GSM-7 if every character is in the basic or the extension table, otherwise UCS-2."""
    return Encoding.GSM7 if gsm7.is_gsm7(text) else Encoding.UCS2


def _ucs2_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _capacity(encoding: Encoding, header_octets: int) -> int:
    """Units (septets, UTF-16 code units or octets) one part holds after a header of `header_octets`."""
    if encoding is Encoding.GSM7:
        return MAX_GSM7_SEPTETS - (header_septets(header_octets) if header_octets else 0)
    available = MAX_USER_DATA_OCTETS - header_octets
    return available // 2 if encoding is Encoding.UCS2 else available


def _split_text(text: str, capacity: int, cost: Callable[[str], int]) -> list[str]:
    parts: list[str] = []
    start = 0
    used = 0
    for index, char in enumerate(text):
        units = cost(char)
        if used + units > capacity:
            parts.append(text[start:index])
            start, used = index, 0
        used += units
    parts.append(text[start:])
    return parts


def split(payload: str | bytes, encoding: Encoding, *, reference_bits: int = 8) -> list[str | bytes]:
    """The payload of each part: one part if it fits whole (160 septets / 70 units / 140 octets), else
    parts sized for a concatenation header (153 / 67 / 134 with an 8-bit reference, 152 / 66 / 133 with 16).

    ValueError if the payload does not suit the encoding or needs more than 255 parts.
    """
    if isinstance(payload, bytes):
        if encoding is not Encoding.BINARY:
            raise ValueError(f"bytes payload needs the 8-bit encoding, not {encoding}")
        return _checked_count(list(split_bytes(payload, reference_bits=reference_bits)))
    return _checked_count(list(split_text(payload, encoding, reference_bits=reference_bits)))


def split_bytes(data: bytes, *, reference_bits: int = 8) -> list[bytes]:
    if len(data) <= MAX_USER_DATA_OCTETS:
        return [data]
    size = _capacity(Encoding.BINARY, header_octets_for(reference_bits))
    return [data[start : start + size] for start in range(0, len(data), size)]


def split_text(text: str, encoding: Encoding, *, reference_bits: int = 8) -> list[str]:
    if encoding is Encoding.BINARY:
        raise ValueError("text payload cannot use the 8-bit encoding; pass bytes")
    if encoding is Encoding.GSM7:
        cost: Callable[[str], int] = gsm7.septet_cost
        total = gsm7.septet_length(text)  # also rejects characters outside the alphabet
    else:
        encode_ucs2(text)  # rejects lone surrogates with evidence
        cost = _ucs2_units
        total = sum(cost(char) for char in text)
    if total <= _capacity(encoding, 0):
        return [text]
    return _split_text(text, _capacity(encoding, header_octets_for(reference_bits)), cost)


def _checked_count(parts: list[str | bytes]) -> list[str | bytes]:
    if len(parts) > MAX_PARTS:
        raise ValueError(f"message needs {len(parts)} parts, more than the {MAX_PARTS} concatenation allows")
    return parts


def segment_count(text: str) -> int:
    """How many SMS-SUBMIT parts `encode_submit` produces for `text` (8-bit concatenation reference)."""
    return len(split(text, choose_encoding(text)))
