"""Malformed input: garbage, truncation and lying lengths raise PduError with evidence, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.sms.pdu import (
    PduError,
    decode,
    decode_deliver,
    decode_status_report,
    decode_submit,
    encode_deliver,
    encode_deliver_parts,
    encode_status_report,
)

MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
VALID = [
    "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
    "0006D60B911326880736F4111011719551401110117195714000",
    encode_deliver("+491701234567", "😀 emoji", sc_timestamp=MOMENT, smsc="+4917000"),
    encode_deliver("Bank", b"\x00\x01\xff", sc_timestamp=MOMENT),
    *encode_deliver_parts("+491701234567", "x€" * 120, sc_timestamp=MOMENT, reference=300, reference_bits=16),
]


@pytest.mark.parametrize(
    ("pdu_hex", "reason"),
    [
        ("", "ends before"),
        ("0", "odd number"),
        ("ZZ", "not hexadecimal"),
        ("00", "ends before the TPDU"),
        ("0C91", "SMSC length 12"),
        ("0004", "ends before TP-OA length"),
        ("00041591", "TP-OA claims 21 semi-octets"),
        ("00040C9194711032", "TP-OA needs 6 octets"),
        ("00040C919471103254760000421020304050", "TP-SCTS needs 7 octets"),
        ("00040C9194711032547600004210203040508005E8329BFD", "TP-UD needs 5 octets"),  # UDL lies (too long)
        ("00040C9194711032547600004210203040508005E8329BFD0600", "1 unexpected octets"),  # UDL too short
        ("00040C91947110325476000042102030405080A1" + "00" * 160, "TP-UDL 161 exceeds 160"),
        ("00040C91947110325476000842102030405080" + "8D" + "00" * 141, "TP-UDL 141 exceeds 140"),
        ("00040C9194711032547600004210203A405080" + "00", "TP-SCTS .* is not BCD"),
        ("00040C9194711032547600004213203040508000", "TP-SCTS .*month must be in 1..12"),
        ("00440C919471103254760004421020304050800105", "UDHL 5 exceeds the 1 octets"),
        ("00440C919471103254760004421020304050800403000500", "element 0x00 overruns"),
        ("00440C9194711032547600044210203040508000", "UDHI is set but the user data is empty"),
        ("00440C91947110325476000042102030405080" + "06050003010201", "cannot hold a 6-octet header"),
        ("0001000C9194711032547600000100", "not a received one"),
    ],
)  # fmt: skip
def test_malformed_pdus_are_refused_with_reason_and_hex(pdu_hex: str, reason: str) -> None:
    with pytest.raises(PduError, match=reason) as caught:
        decode(pdu_hex)
    assert caught.value.pdu_hex == pdu_hex


def test_wrong_type_for_the_specific_decoders() -> None:
    with pytest.raises(PduError, match="not an SMS-STATUS-REPORT"):
        decode_status_report(VALID[0])
    with pytest.raises(PduError, match="not an SMS-DELIVER"):
        decode_deliver(VALID[1])
    with pytest.raises(PduError, match="not an SMS-SUBMIT"):
        decode_submit(VALID[0])


@pytest.mark.parametrize("pdu_hex", VALID)
def test_every_truncation_of_a_valid_pdu_is_a_pdu_error(pdu_hex: str) -> None:
    decode(pdu_hex)
    for cut in range(0, len(pdu_hex) - 1, 2):
        with pytest.raises(PduError):
            decode(pdu_hex[:cut])


@settings(max_examples=400)
@given(st.binary(max_size=200), st.booleans())
def test_decode_of_arbitrary_octets_returns_or_raises_pdu_error(data: bytes, with_smsc: bool) -> None:
    try:
        decode(data.hex(), with_smsc=with_smsc)
    except PduError:
        pass


@settings(max_examples=400)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_decode_of_mutated_valid_pdus_returns_or_raises_pdu_error(
    pdu_hex: str, mutations: list[tuple[int, int]]
) -> None:
    octets = bytearray.fromhex(pdu_hex)
    for position, value in mutations:
        octets[position % len(octets)] = value
    try:
        message = decode(octets.hex())
    except PduError:
        return
    text = getattr(message, "text", None)
    if text is not None:
        text.encode("utf-8")  # never a lone surrogate


@given(st.text(max_size=60))
def test_decode_of_arbitrary_text_returns_or_raises_pdu_error(text: str) -> None:
    try:
        decode(text)
    except PduError:
        pass


def test_encoders_refuse_bad_input_with_value_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_deliver("+1", "x", sc_timestamp=datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="must be '\\+' followed by digits"):
        encode_deliver("+49 170", "x", sc_timestamp=MOMENT)
    with pytest.raises(ValueError, match="1..11 GSM-7 characters"):
        encode_deliver("TwelveLetter", "x", sc_timestamp=MOMENT)
    with pytest.raises(ValueError, match="exceed"):
        encode_deliver("+1", "x" * 161, sc_timestamp=MOMENT)
    with pytest.raises(ValueError, match="not a phone number"):
        encode_status_report(1, "Bank", sc_timestamp=MOMENT, discharge_time=MOMENT, status=0)
    with pytest.raises(ValueError, match="does not fit in 8 bits"):
        encode_deliver_parts("+1", "x", sc_timestamp=MOMENT, reference=256)
