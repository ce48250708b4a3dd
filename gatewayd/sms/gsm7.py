"""GSM 7-bit default alphabet and extension table (3GPP TS 23.038 §6.2.1), septet packing (§6.1.2.1.1).

Pure functions over str, septet lists and bytes; knows nothing about TPDUs, headers or lengths fields.
"""

from __future__ import annotations

from collections.abc import Sequence

ESCAPE = 0x1B
CARRIAGE_RETURN = 0x0D

# TS 23.038 §6.2.1, figure "GSM 7 bit default alphabet": index = septet value. 0x1B is the escape to the
# extension table and is never looked up here (`decode` handles it). 0x5F is the section sign, not a
# backtick; the backtick is not in the alphabet at all.
BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 §6.2.1.1, "GSM 7 bit default alphabet extension table": ESC followed by the key.
EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\x0c",  # form feed (page break)
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_BASIC_CODE: dict[str, int] = {char: code for code, char in enumerate(BASIC_TABLE) if code != ESCAPE}
_EXTENSION_CODE: dict[str, int] = {char: code for code, char in EXTENSION_TABLE.items()}

assert len(BASIC_TABLE) == 128


def is_gsm7(text: str) -> bool:
    """True if every character is in the basic table or the extension table."""
    return all(char in _BASIC_CODE or char in _EXTENSION_CODE for char in text)


def septet_cost(char: str) -> int:
    """Septets one character takes: 1 for the basic table, 2 for an escape pair; ValueError otherwise."""
    if char in _BASIC_CODE:
        return 1
    if char in _EXTENSION_CODE:
        return 2
    raise ValueError(f"{char!r} (U+{ord(char):04X}) is not in the GSM 7-bit default alphabet")


def septet_length(text: str) -> int:
    """Number of septets `encode` produces for `text`."""
    return sum(septet_cost(char) for char in text)


def encode(text: str) -> list[int]:
    """Text to septet values, extension characters as ESC pairs; ValueError names the first bad character."""
    septets: list[int] = []
    for char in text:
        code = _BASIC_CODE.get(char)
        if code is not None:
            septets.append(code)
            continue
        extension = _EXTENSION_CODE.get(char)
        if extension is None:
            septet_cost(char)  # raises with the character named
        else:
            septets.extend((ESCAPE, extension))
    return septets


def decode(septets: Sequence[int]) -> str:
    """Septet values to text.

    An escape followed by a code the extension table does not define shows the basic character of that
    code (TS 23.038 §6.2.1.1); an escape with nothing usable after it (end of data, or a second escape)
    shows as a space (§6.2.1, note 1).
    """
    chars: list[str] = []
    index = 0
    while index < len(septets):
        code = septets[index] & 0x7F
        index += 1
        if code != ESCAPE:
            chars.append(BASIC_TABLE[code])
            continue
        if index >= len(septets):
            chars.append(" ")
            break
        follower = septets[index] & 0x7F
        index += 1
        if follower in EXTENSION_TABLE:
            chars.append(EXTENSION_TABLE[follower])
        elif follower == ESCAPE:
            chars.append(" ")  # ESC ESC: escape to a further table we do not know (§6.2.1.1, 0x1B)
        else:
            chars.append(BASIC_TABLE[follower])
    return "".join(chars)


def pack(septets: Sequence[int], *, fill_bits: int = 0, pad_with_cr: bool = False) -> bytes:
    """Pack septets LSB first after `fill_bits` zero bits (TS 23.038 §6.1.2.1.1, TS 23.040 §9.2.3.24).

    Spare bits at the end are zero, as SMS packing does (its TP-UDL counts septets, so they are never read).
    `pad_with_cr` fills 7 spare bits with CR instead, as USSD and cell broadcast must (TS 23.038 §6.1.2.3.1),
    where no septet count exists and zeros would read as a trailing '@'.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    total_bits = fill_bits + 7 * len(septets)
    octet_count = (total_bits + 7) // 8
    spare_bits = octet_count * 8 - total_bits
    padded = list(septets) + ([CARRIAGE_RETURN] if pad_with_cr and spare_bits == 7 else [])
    accumulator = 0
    for position, septet in enumerate(padded):
        accumulator |= (septet & 0x7F) << (fill_bits + 7 * position)
    return (accumulator & ((1 << (8 * octet_count)) - 1)).to_bytes(octet_count, "little")


def packed_octet_count(septet_count: int, *, fill_bits: int = 0) -> int:
    """Octets needed for `septet_count` septets after `fill_bits` fill bits."""
    return (fill_bits + 7 * septet_count + 7) // 8


def unpack(data: bytes, septet_count: int, *, fill_bits: int = 0) -> list[int]:
    """Read `septet_count` septets after `fill_bits` bits; ValueError if `data` is too short for them."""
    needed = packed_octet_count(septet_count, fill_bits=fill_bits)
    if len(data) < needed:
        raise ValueError(f"{septet_count} septets need {needed} octets, only {len(data)} present")
    accumulator = int.from_bytes(data[:needed], "little") >> fill_bits
    return [(accumulator >> (7 * position)) & 0x7F for position in range(septet_count)]
