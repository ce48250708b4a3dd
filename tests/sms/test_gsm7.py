"""GSM-7 default alphabet, extension table and septet packing, against TS 23.038 and published vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.sms import gsm7

# TS 23.038 §6.2.1, written out row by row from the figure (column = high 3 bits, row = low 4 bits),
# independently of gsm7.BASIC_TABLE, so a typo in either shows up.
SPEC_BASIC = {
    0x00: "@", 0x01: "£", 0x02: "$", 0x03: "¥", 0x04: "è", 0x05: "é", 0x06: "ù", 0x07: "ì",
    0x08: "ò", 0x09: "Ç", 0x0A: "\n", 0x0B: "Ø", 0x0C: "ø", 0x0D: "\r", 0x0E: "Å", 0x0F: "å",
    0x10: "Δ", 0x11: "_", 0x12: "Φ", 0x13: "Γ", 0x14: "Λ", 0x15: "Ω", 0x16: "Π", 0x17: "Ψ",
    0x18: "Σ", 0x19: "Θ", 0x1A: "Ξ", 0x1C: "Æ", 0x1D: "æ", 0x1E: "ß", 0x1F: "É",
    0x20: " ", 0x21: "!", 0x22: '"', 0x23: "#", 0x24: "¤", 0x25: "%", 0x26: "&", 0x27: "'",
    0x28: "(", 0x29: ")", 0x2A: "*", 0x2B: "+", 0x2C: ",", 0x2D: "-", 0x2E: ".", 0x2F: "/",
    0x3A: ":", 0x3B: ";", 0x3C: "<", 0x3D: "=", 0x3E: ">", 0x3F: "?",
    0x40: "¡", 0x5B: "Ä", 0x5C: "Ö", 0x5D: "Ñ", 0x5E: "Ü", 0x5F: "§",
    0x60: "¿", 0x7B: "ä", 0x7C: "ö", 0x7D: "ñ", 0x7E: "ü", 0x7F: "à",
    **{0x30 + digit: str(digit) for digit in range(10)},
    **{0x41 + offset: chr(ord("A") + offset) for offset in range(26)},
    **{0x61 + offset: chr(ord("a") + offset) for offset in range(26)},
}  # fmt: skip
SPEC_EXTENSION = {0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
                  0x3E: "]", 0x40: "|", 0x65: "€"}  # fmt: skip


def test_spec_table_is_complete() -> None:
    assert len(SPEC_BASIC) == 127  # every code but the escape


@pytest.mark.parametrize(("code", "char"), sorted(SPEC_BASIC.items()))
def test_basic_table_matches_ts_23_038(code: int, char: str) -> None:
    assert gsm7.decode([code]) == char
    assert gsm7.encode(char) == [code]


@pytest.mark.parametrize(("code", "char"), sorted(SPEC_EXTENSION.items()))
def test_extension_table_via_escape(code: int, char: str) -> None:
    assert gsm7.decode([gsm7.ESCAPE, code]) == char
    assert gsm7.encode(char) == [gsm7.ESCAPE, code]
    assert gsm7.septet_cost(char) == 2


def test_section_sign_is_0x5f_and_backtick_is_not_gsm7() -> None:
    assert gsm7.encode("§") == [0x5F]
    assert not gsm7.is_gsm7("`")
    with pytest.raises(ValueError, match="U\\+0060"):
        gsm7.encode("a`b")


@pytest.mark.parametrize("code", [c for c in range(128) if c not in SPEC_EXTENSION and c != gsm7.ESCAPE])
def test_undefined_escape_shows_the_basic_character(code: int) -> None:
    # TS 23.038 §6.2.1.1: a code not in the extension table is displayed as the default-alphabet character.
    assert gsm7.decode([0x41, gsm7.ESCAPE, code, 0x42]) == "A" + SPEC_BASIC[code] + "B"


def test_escape_at_end_or_doubled_is_a_space() -> None:
    assert gsm7.decode([0x41, gsm7.ESCAPE]) == "A "
    assert gsm7.decode([gsm7.ESCAPE, gsm7.ESCAPE, 0x41]) == " A"


def test_characters_outside_both_tables_are_rejected_with_the_character_named() -> None:
    for char in ("ÿ", "ç", "Ä\u0308", "😀", "`"):
        assert not gsm7.is_gsm7(char)
    with pytest.raises(ValueError, match="ÿ"):
        gsm7.septet_length("aÿ")


@pytest.mark.parametrize(
    ("text", "packed_hex"),
    [
        # Wikipedia "GSM 03.38", packing example.
        ("hellohello", "E8329BFD4697D9EC37"),
        # python-gsmmodem test vectors (test/test_pdu.py, TestGsm7), verified by hand.
        ("123", "31D90C"),
        ("Hello World!", "C8329BFD065DDF72363904"),
        ("[{abc}]~", "1BDE0615168F37A98D6FD303"),
    ],
)
def test_packing_matches_published_vectors(text: str, packed_hex: str) -> None:
    septets = gsm7.encode(text)
    assert gsm7.pack(septets).hex().upper() == packed_hex
    assert gsm7.decode(gsm7.unpack(bytes.fromhex(packed_hex), len(septets))) == text


def test_seven_spare_bits_are_zero_for_sms_and_cr_for_ussd() -> None:
    # SMS: spare bits are zero, the septet count bounds the text. USSD / cell broadcast have no count, so
    # 7 spare bits carry CR instead of reading as '@' (TS 23.038 §6.1.2.3.1).
    septets = gsm7.encode("1234567")
    sms = gsm7.pack(septets)
    ussd = gsm7.pack(septets, pad_with_cr=True)
    assert (len(sms), sms[-1] >> 1, ussd[-1] >> 1) == (7, 0, gsm7.CARRIAGE_RETURN)
    assert sms[:-1] == ussd[:-1]
    assert gsm7.decode(gsm7.unpack(sms, 7)) == gsm7.decode(gsm7.unpack(ussd, 7)) == "1234567"
    assert gsm7.decode(gsm7.unpack(ussd, 8)) == "1234567\r"
    assert gsm7.pack(gsm7.encode("123456"), pad_with_cr=True) == gsm7.pack(gsm7.encode("123456"))


def test_trailing_at_sign_survives_when_the_count_says_so() -> None:
    septets = gsm7.encode("abcdefg@")  # 8 septets: exactly 7 octets, the last septet is 0
    packed = gsm7.pack(septets)
    assert len(packed) == 7
    assert gsm7.decode(gsm7.unpack(packed, 8)) == "abcdefg@"


def test_unpack_refuses_too_little_data() -> None:
    with pytest.raises(ValueError, match="need 3 octets"):
        gsm7.unpack(b"\x00\x00", 3)


GSM7_CHARS = sorted(set(SPEC_BASIC.values()) | set(SPEC_EXTENSION.values()))


@given(st.text(alphabet=GSM7_CHARS, max_size=200), st.integers(min_value=0, max_value=6))
def test_pack_unpack_round_trip_with_any_fill(text: str, fill_bits: int) -> None:
    septets = gsm7.encode(text)
    packed = gsm7.pack(septets, fill_bits=fill_bits)
    assert len(packed) == gsm7.packed_octet_count(len(septets), fill_bits=fill_bits)
    assert gsm7.decode(gsm7.unpack(packed, len(septets), fill_bits=fill_bits)) == text
    assert gsm7.septet_length(text) == len(septets)


@given(st.lists(st.integers(min_value=0, max_value=127), max_size=50))
def test_decode_never_fails_and_is_gsm7(septets: list[int]) -> None:
    text = gsm7.decode(septets)
    assert gsm7.is_gsm7(text.replace("\x1b", ""))
