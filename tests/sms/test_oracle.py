"""Cross-checks against python-gsmmodem-new 0.13.0 (`gsmmodem.pdu`) only where it is known to be right.

See docs/decisions/pdu-codec.md: GSM-7 basic texts without '§'/backtick, BMP UCS-2, 8-bit concatenation
references, negative and quarter-hour zones, alphanumeric senders. Elsewhere it has verified defects.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import gsmmodem.pdu as oracle
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.sms import gsm7
from gatewayd.sms.pdu import decode, encode_deliver, encode_deliver_parts, encode_submit

# The basic table without '§' (oracle defect 2) and without the escape.
ORACLE_SAFE_GSM7 = sorted(set(gsm7.BASIC_TABLE) - {"§", "\x1b"})
# BMP with at least one non-GSM-7 character. An exhaustive single-character comparison of SUBMIT PDUs
# finds exactly five where the oracle differs, all its defects: backtick and '§' (2), form feed (6), 'ÿ'
# (TypeError, 6) and a raw ESC control character (sent as a bare GSM-7 escape).
BMP_CHARS = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"], exclude_characters="`§\x0c\x1bÿ")
BMP_TEXT = st.builds(
    lambda head, tail: head + tail,
    st.text(alphabet=BMP_CHARS.filter(lambda char: not gsm7.is_gsm7(char)), min_size=1, max_size=5),
    st.text(alphabet=BMP_CHARS, max_size=300),
)
# Oracle defect 4: it drops a trailing '@'; keep texts that do not end in one.
GSM7_TEXT = st.text(alphabet=ORACLE_SAFE_GSM7, max_size=500).filter(lambda text: not text.endswith("@"))
ZONES = st.integers(-79, 79).map(lambda quarters: timezone(timedelta(minutes=15 * quarters)))
MOMENT = datetime(2024, 2, 29, 23, 59, 58, tzinfo=timezone(timedelta(hours=-9, minutes=-30)))


def _oracle_decode(pdu_hex: str) -> dict[str, Any]:
    result: dict[str, Any] = oracle.decodeSmsPdu(pdu_hex)
    return result


@settings(max_examples=150)
@given(st.one_of(GSM7_TEXT, BMP_TEXT))
def test_submit_pdus_equal_the_oracles(text: str) -> None:
    # TP-MR and the concatenation reference are both 0 here: the oracle uses one number for both.
    parts = encode_submit("+491701234567", text, concat_reference=0)
    ours = [(part.pdu_hex, part.tpdu_length) for part in parts]
    theirs = [
        (str(part).upper(), part.tpduLength)
        for part in oracle.encodeSmsSubmitPdu("+491701234567", text, reference=0, requestStatusReport=True)
    ]
    assert ours == theirs


@settings(max_examples=150)
@given(st.one_of(GSM7_TEXT, BMP_TEXT), st.integers(0, 255))
def test_oracle_reads_our_deliver_parts(text: str, reference: int) -> None:
    pdus = encode_deliver_parts("+4930123456", text, sc_timestamp=MOMENT, reference=reference)
    texts = []
    for number, pdu_hex in enumerate(pdus, start=1):
        theirs = _oracle_decode(pdu_hex)
        assert theirs["number"] == "+4930123456"
        texts.append(theirs["text"])
        if len(pdus) > 1:
            [concat] = theirs["udh"]
            assert (concat.reference, concat.parts, concat.number) == (reference, len(pdus), number)
    assert "".join(texts) == text


@given(
    # The oracle reads two-digit years from 69 on as 19xx; an SC timestamp is never in the past century.
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2068, 12, 31)).map(
        lambda moment: moment.replace(microsecond=0)
    ),
    ZONES,
)
def test_timestamps_and_zones_agree_with_the_oracle(naive: datetime, zone: timezone) -> None:
    moment = naive.replace(tzinfo=zone)
    pdu_hex = encode_deliver("+1555", "x", sc_timestamp=moment)
    theirs = _oracle_decode(pdu_hex)["time"]
    ours = decode(pdu_hex).sc_timestamp
    assert ours == theirs == moment
    assert ours.utcoffset() == theirs.utcoffset()


ALPHA_SENDER = st.builds(  # starts with a letter, so it is never read as a number
    lambda first, rest: first + rest,
    st.sampled_from("ABCXYZabcxyzÄÖÜäöüΔΩ"),
    st.text(alphabet=sorted(set(ORACLE_SAFE_GSM7) - set("@\r")), max_size=10),
)


@given(ALPHA_SENDER)
def test_alphanumeric_senders_agree_with_the_oracle(sender: str) -> None:
    pdu_hex = encode_deliver(sender, "hi", sc_timestamp=MOMENT)
    assert decode(pdu_hex).sender == _oracle_decode(pdu_hex)["number"] == sender


def test_oracle_defects_we_do_not_share() -> None:
    """Evidence for the decision record: each of these is a case where the oracle is wrong and we are not."""
    section = encode_deliver("+1555", "§", sc_timestamp=MOMENT)
    assert _oracle_decode(section)["text"] == "`" and decode(section).text == "§"  # defect 2
    emoji = encode_deliver("+1555", "😀", sc_timestamp=MOMENT)
    assert _oracle_decode(emoji)["text"] != "😀" and decode(emoji).text == "😀"  # defect 1
    flash_8bit = "00" + "04" + "04915155" + "00" + "F5" + "42209232958500" + "02" + "0102"
    assert decode(flash_8bit).data == b"\x01\x02"  # defect 5: the oracle reads DCS 0xF5 as GSM-7
