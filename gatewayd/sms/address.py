"""Address fields: TP-OA/TP-DA/TP-RA (TS 23.040 §9.1.2.5) and the SMSC address (TS 24.011 §8.2.5.1).

Numbers are semi-octets with an F filler (§9.1.2.3); alphanumeric senders are packed GSM-7 (TON 5).
"""

from __future__ import annotations

from gatewayd.sms import gsm7
from gatewayd.sms.model import AddressType
from gatewayd.sms.octets import OctetReader

# TS 23.040 §9.1.2.3: semi-octet values 0xA..0xE stand for these characters; 0xF is the filler.
_SEMI_OCTET_CHARS = "0123456789*#abc"
_SEMI_OCTET_VALUE = {char: value for value, char in enumerate(_SEMI_OCTET_CHARS)}
_FILLER = 0xF
# Characters that make an address a number when encoding. a/b/c are semi-octet values too, but a sender
# like "abc" is far more likely a name than dialling digits, so those are encoded alphanumerically.
_NUMBER_CHARS = frozenset("0123456789*#")

_TON_INTERNATIONAL = 1
_TON_NATIONAL = 2
_TON_ALPHANUMERIC = 5
_TYPE_BY_ADDRESS_TYPE = {  # extension bit set, numbering plan 1 (E.164) except alphanumeric (plan 0)
    AddressType.INTERNATIONAL: 0x91,
    AddressType.NATIONAL: 0xA1,
    AddressType.UNKNOWN: 0x81,
    AddressType.ALPHANUMERIC: 0xD0,
}
MAX_ADDRESS_SEMI_OCTETS = 20  # TP-OA/TP-DA are at most 12 octets: length, type, 10 octets of value
MAX_SMSC_OCTETS = 11  # type octet + 10 octets of digits


def decode_semi_octets(data: bytes) -> str:
    """Swapped-nibble digits; filler nibbles are skipped."""
    chars: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble != _FILLER:
                chars.append(_SEMI_OCTET_CHARS[nibble])
    return "".join(chars)


def encode_semi_octets(digits: str) -> bytes:
    """Digits (and * # a b c) to swapped nibbles, an odd count padded with the F filler."""
    values = [_SEMI_OCTET_VALUE[char] for char in digits]
    if len(values) % 2:
        values.append(_FILLER)
    return bytes(values[index] | (values[index + 1] << 4) for index in range(0, len(values), 2))


def _address_type_of(type_octet: int) -> AddressType:
    type_of_number = (type_octet >> 4) & 0x07
    if type_of_number == _TON_INTERNATIONAL:
        return AddressType.INTERNATIONAL
    if type_of_number == _TON_NATIONAL:
        return AddressType.NATIONAL
    if type_of_number == _TON_ALPHANUMERIC:
        return AddressType.ALPHANUMERIC
    return AddressType.UNKNOWN


def _decode_alphanumeric(value: bytes, semi_octets: int) -> str:
    septet_count = semi_octets * 4 // 7
    septets = gsm7.unpack(value, septet_count)
    # When the length counts the whole last octet its 7 spare bits read as one more septet: zeros ('@') or
    # the CR pad of TS 23.038 §6.1.2.3.1. No real sender name ends in either, so drop it.
    if septets and 7 * septet_count == 8 * len(value) and septets[-1] in (0, gsm7.CARRIAGE_RETURN):
        septets.pop()
    return gsm7.decode(septets)


def _with_plus(digits: str, address_type: AddressType) -> str:
    if address_type is AddressType.INTERNATIONAL and not digits.startswith("+"):
        return "+" + digits
    return digits


def read_address(reader: OctetReader, field: str) -> tuple[str, AddressType]:
    """Read a TP address: length in useful semi-octets, type of address, value."""
    semi_octets = reader.octet(f"{field} length")
    if semi_octets > MAX_ADDRESS_SEMI_OCTETS:
        raise reader.error(f"{field} claims {semi_octets} semi-octets (at most {MAX_ADDRESS_SEMI_OCTETS})")
    type_octet = reader.octet(f"{field} type")
    value = reader.take((semi_octets + 1) // 2, field)
    address_type = _address_type_of(type_octet)
    if address_type is AddressType.ALPHANUMERIC:
        return _decode_alphanumeric(value, semi_octets), address_type
    digits = decode_semi_octets(value)[:semi_octets]
    return _with_plus(digits, address_type), address_type


def read_smsc(reader: OctetReader) -> str | None:
    """Read the SMSC address that AT+CMGR/CMGL put before the TPDU; length 0 means none."""
    length = reader.octet("SMSC length")
    if length == 0:
        return None
    if length > MAX_SMSC_OCTETS:
        raise reader.error(f"SMSC length {length} exceeds {MAX_SMSC_OCTETS} octets")
    type_octet = reader.octet("SMSC type")
    digits = decode_semi_octets(reader.take(length - 1, "SMSC address"))
    return _with_plus(digits, _address_type_of(type_octet))


def classify(address: str, *, digits_type: AddressType) -> AddressType:
    """How `address` will be encoded: '+digits' international, bare digits `digits_type`, else text."""
    if address.startswith("+"):
        if len(address) > 1 and all(char in _NUMBER_CHARS for char in address[1:]):
            return AddressType.INTERNATIONAL
        raise ValueError(f"international address {address!r} must be '+' followed by digits")
    if address and all(char in _NUMBER_CHARS for char in address):
        return digits_type
    return AddressType.ALPHANUMERIC


def encode_address(address: str, *, digits_type: AddressType, allow_alphanumeric: bool) -> bytes:
    """A complete TP address field (length, type, value); ValueError names what cannot be encoded."""
    address_type = classify(address, digits_type=digits_type)
    if address_type is AddressType.ALPHANUMERIC:
        if not allow_alphanumeric:
            raise ValueError(f"{address!r} is not a phone number ('+' and digits, or digits)")
        septets = gsm7.encode(address)
        semi_octets = (7 * len(septets) + 3) // 4
        if not septets or semi_octets > MAX_ADDRESS_SEMI_OCTETS:
            raise ValueError(f"alphanumeric address {address!r} must be 1..11 GSM-7 characters")
        value = gsm7.pack(septets)
    else:
        digits = address.removeprefix("+")
        semi_octets = len(digits)
        if semi_octets > MAX_ADDRESS_SEMI_OCTETS:
            raise ValueError(f"address {address!r} has more than {MAX_ADDRESS_SEMI_OCTETS} digits")
        value = encode_semi_octets(digits)
    return bytes((semi_octets, _TYPE_BY_ADDRESS_TYPE[address_type])) + value


def encode_smsc(smsc: str | None) -> bytes:
    """The SMSC part in front of a TPDU; None gives the single zero octet ("use the SIM's SMSC")."""
    if smsc is None:
        return b"\x00"
    address_type = classify(smsc, digits_type=AddressType.UNKNOWN)
    if address_type is AddressType.ALPHANUMERIC:
        raise ValueError(f"SMSC address {smsc!r} must be digits")
    value = encode_semi_octets(smsc.removeprefix("+"))
    if len(value) + 1 > MAX_SMSC_OCTETS:
        raise ValueError(f"SMSC address {smsc!r} is too long")
    return bytes((len(value) + 1, _TYPE_BY_ADDRESS_TYPE[address_type])) + value
