"""SMS-SUBMIT encoding, segmentation limits and round trips submit -> network -> deliver -> reassembly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from gatewayd.sms import gsm7
from gatewayd.sms.concat import Reassembler
from gatewayd.sms.pdu import (
    AddressType,
    Concat,
    Deliver,
    Encoding,
    StatusReport,
    SubmitPart,
    choose_encoding,
    decode,
    decode_submit,
    encode_deliver,
    encode_deliver_parts,
    encode_status_report,
    encode_submit,
    segment_count,
)

GSM7_CHARS = sorted({*gsm7.BASIC_TABLE.replace("\x1b", ""), *gsm7.EXTENSION_TABLE.values()})
MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))


def test_wikipedia_submit_example() -> None:
    # Wikipedia "GSM 03.40": "hellohello" to +46708251358, validity 4 days, no status report.
    parts = encode_submit(
        "+46708251358", "hellohello", concat_reference=0, status_report=False, validity=timedelta(days=4)
    )
    assert parts == [SubmitPart("0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 23, 1, 1)]


def test_python_gsmmodem_submit_vector() -> None:
    # python-gsmmodem test_pdu.py test_encodeSmsSubmit, first row.
    [part] = encode_submit("+27820001111", "Hello World!", concat_reference=0, status_report=False)
    assert part.pdu_hex == "0001000B917228001011F100000CC8329BFD065DDF72363904"
    assert part.tpdu_length == len(part.pdu_hex) // 2 - 1


def test_status_report_request_and_national_recipient() -> None:
    [part] = encode_submit("01701234567", "hi", concat_reference=0)
    submit = decode_submit(part.pdu_hex)
    assert part.pdu_hex.startswith("0021000B81")  # SRR set, TP-MR 0, TON unknown for bare digits
    assert (submit.status_report, submit.recipient, submit.recipient_type) == (
        True, "01701234567", AddressType.UNKNOWN,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("validity", "octet"),
    [(timedelta(minutes=5), 0x00), (timedelta(minutes=30), 0x05), (timedelta(hours=12), 0x8F),
     (timedelta(hours=16), 151), (timedelta(days=3), 169), (timedelta(weeks=5), 197),
     (timedelta(weeks=63), 255), (timedelta(weeks=100), 255)],
)  # fmt: skip
def test_relative_validity_per_ts_23_040_9_2_3_12_1(validity: timedelta, octet: int) -> None:
    [part] = encode_submit("+1555", "x", concat_reference=0, validity=validity)
    assert part.pdu_hex[2:4] == "31"  # VPF relative + SRR + SUBMIT
    assert int(part.pdu_hex[18:20], 16) == octet  # 00 31 00 04 91 5155 00 00 [VP]


@pytest.mark.parametrize(
    ("text", "encoding", "part_units"),
    [
        ("a" * 160, Encoding.GSM7, [160]),
        ("a" * 161, Encoding.GSM7, [153, 8]),
        ("a" * 306, Encoding.GSM7, [153, 153]),
        ("a" * 307, Encoding.GSM7, [153, 153, 1]),
        ("€" * 80, Encoding.GSM7, [160]),
        ("€" * 81, Encoding.GSM7, [152, 10]),  # 76 escape pairs; the 77th would be split
        ("a" + "€" * 80, Encoding.GSM7, [153, 8]),
        ("ж" * 70, Encoding.UCS2, [70]),
        ("ж" * 71, Encoding.UCS2, [67, 4]),
        ("ж" * 135, Encoding.UCS2, [67, 67, 1]),
        ("a" * 1530, Encoding.GSM7, [153] * 10),
        ("ж" * 670, Encoding.UCS2, [67] * 10),
        ("😀" * 330, Encoding.UCS2, [66] * 10),
        ("😀" * 35, Encoding.UCS2, [70]),
        ("😀" * 36, Encoding.UCS2, [66, 6]),  # 33 pairs; the 34th would be split
        ("a" + "😀" * 40, Encoding.UCS2, [67, 14]),
        ("`", Encoding.UCS2, [1]),  # backtick is not GSM-7
        ("§", Encoding.GSM7, [1]),
        ("", Encoding.GSM7, [0]),
    ],
)  # fmt: skip
def test_split_limits_and_boundaries(text: str, encoding: Encoding, part_units: list[int]) -> None:
    parts = encode_submit("+491701234567", text, concat_reference=9)
    assert choose_encoding(text) is encoding
    assert segment_count(text) == len(parts) == len(part_units)
    decoded = [decode_submit(part.pdu_hex) for part in parts]
    units = [
        gsm7.septet_length(submit.text or "") if encoding is Encoding.GSM7 else len(submit.data) // 2
        for submit in decoded
    ]
    assert units == part_units
    assert "".join(submit.text or "" for submit in decoded) == text
    if len(parts) > 1:
        expected = [Concat(9, len(parts), number, 8) for number in range(1, len(parts) + 1)]
        assert [submit.concat for submit in decoded] == expected


def test_too_many_parts_and_bad_references_are_refused() -> None:
    with pytest.raises(ValueError, match="more than 255"):
        encode_submit("+1", "a" * 153 * 256, concat_reference=0)
    with pytest.raises(ValueError, match="0..255"):
        encode_submit("+1", "a", concat_reference=256)
    with pytest.raises(ValueError, match="unpaired surrogate"):
        encode_submit("+1", "a\ud83d", concat_reference=0)
    with pytest.raises(ValueError, match="not a phone number"):
        encode_submit("Bank", "a", concat_reference=0)


def _cut_to_ten_parts(text: str) -> str:
    """The longest prefix that surely fits 10 parts: a part may leave one unit unused rather than split
    an escape or surrogate pair, so count 152 septets or 66 UTF-16 units per part."""
    gsm = gsm7.is_gsm7(text)
    budget, used = (1520, 0) if gsm else (660, 0)
    for index, char in enumerate(text):
        used += gsm7.septet_cost(char) if gsm else (2 if ord(char) > 0xFFFF else 1)
        if used > budget:
            return text[:index]
    return text


def _repeated(snippet: str, times: int) -> str:
    return snippet * times


ANY_TEXT = st.one_of(
    st.text(alphabet=GSM7_CHARS, max_size=1530),
    st.text(max_size=670),  # any Unicode without lone surrogates, astral planes included
    st.text(alphabet=st.sampled_from(["€", "[", "a", "😀", "ж", "{"]), max_size=700),
    # Long texts (Hypothesis prefers short ones): a drawn snippet repeated.
    st.builds(_repeated, st.text(alphabet=GSM7_CHARS, min_size=1), st.integers(1, 400)),
    st.builds(_repeated, st.text(min_size=1, max_size=12), st.integers(1, 330)),
).map(_cut_to_ten_parts)


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT, st.integers(min_value=0, max_value=255), st.randoms(use_true_random=False))
def test_submit_then_network_delivery_then_reassembly_gives_the_text(
    text: str, reference: int, shuffler: random.Random
) -> None:
    parts = encode_submit("+491701234567", text, concat_reference=reference)
    target(float(len(parts)))
    assert segment_count(text) == len(parts) <= 10
    submits = [decode_submit(part.pdu_hex) for part in parts]
    for part in parts:
        assert part.tpdu_length == len(part.pdu_hex) // 2 - 1
        user_data_octets = part.tpdu_length - 1 - 1 - 9 - 2 - 1  # first, MR, DA(+491701234567), PID+DCS, UDL
        assert user_data_octets <= 140
    # No part ends inside an escape or surrogate pair: each part alone decodes to its slice of the text.
    assert "".join(submit.text or "" for submit in submits) == text
    # The SC turns each SUBMIT into a DELIVER carrying the same user data and header.
    delivered = [
        encode_deliver("+4930123", submit.text or "", sc_timestamp=MOMENT, encoding=submit.encoding,
                       concat=submit.concat)
        for submit in submits
    ]  # fmt: skip
    network_made = encode_deliver_parts("+4930123", text, sc_timestamp=MOMENT, reference=reference)
    assert network_made == delivered
    shuffler.shuffle(delivered)
    reassembler = Reassembler()
    results = [reassembler.add("sim-1", _as_deliver(pdu), 0.0) for pdu in delivered]
    completed = [result for result in results if result is not None]
    assert len(completed) == 1 and results[-1] is completed[0]
    assert completed[0].text == text


def _as_deliver(pdu_hex: str) -> Deliver:
    message = decode(pdu_hex)
    assert isinstance(message, Deliver)
    return message


QUARTER_HOUR_ZONES = st.integers(-79, 79).map(lambda quarters: timezone(timedelta(minutes=15 * quarters)))
TIMESTAMPS = st.builds(
    lambda moment, zone: moment.replace(microsecond=0, tzinfo=zone),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)),
    QUARTER_HOUR_ZONES,
)
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=20)
ALPHANUMERIC = st.text(alphabet=GSM7_CHARS, min_size=1, max_size=11).filter(
    lambda name: gsm7.septet_length(name) <= 11
    and not all(char in "0123456789*#" for char in name)
    and not name.startswith("+")
    # Documented limit: an 8-septet name ending in '@' or CR is read as a padded 7-character one.
    and not (gsm7.septet_length(name) == 8 and name[-1] in "@\r")
)
SENDERS = st.one_of(
    DIGITS.map(lambda digits: ("+" + digits, AddressType.INTERNATIONAL)),
    DIGITS.map(lambda digits: (digits, AddressType.NATIONAL)),
    ALPHANUMERIC.map(lambda name: (name, AddressType.ALPHANUMERIC)),
)
ONE_PART_PAYLOADS = st.one_of(
    st.text(alphabet=GSM7_CHARS, max_size=150).filter(lambda text: gsm7.septet_length(text) <= 152),
    st.text(max_size=60).filter(lambda text: len(text.encode("utf-16-be")) <= 132),
    st.binary(max_size=132),
)
CONCATS = st.one_of(
    st.none(),
    st.builds(
        lambda bits, ref, total, sequence: Concat(ref % (1 << bits), total, min(sequence, total), bits),
        st.sampled_from([8, 16]), st.integers(0, 65535), st.integers(1, 255), st.integers(1, 255),
    ),
)  # fmt: skip


@settings(max_examples=300)
@given(SENDERS, ONE_PART_PAYLOADS, TIMESTAMPS, st.none() | DIGITS.map(lambda d: "+" + d[:18]), CONCATS)
def test_decode_of_encode_deliver_is_identity_field_by_field(
    sender: tuple[str, AddressType],
    payload: str | bytes,
    moment: datetime,
    smsc: str | None,
    concat: Concat | None,
) -> None:
    pdu_hex = encode_deliver(sender[0], payload, sc_timestamp=moment, smsc=smsc, concat=concat)
    message = decode(pdu_hex)
    assert isinstance(message, Deliver)
    assert (message.sender, message.sender_type) == sender
    assert message.smsc == smsc
    assert message.sc_timestamp == moment and message.sc_timestamp.utcoffset() == moment.utcoffset()
    assert message.concat == concat
    if isinstance(payload, bytes):
        assert (message.encoding, message.text, message.data) == (Encoding.BINARY, None, payload)
    else:
        assert (message.encoding, message.text) == (choose_encoding(payload), payload)
    assert pdu_hex.endswith(message.tpdu_hex) and message.tpdu_hex == message.tpdu_hex.upper()


@given(st.integers(0, 255), DIGITS, TIMESTAMPS, TIMESTAMPS, st.integers(0, 255))
def test_decode_of_encode_status_report_is_identity(
    reference: int, digits: str, sent: datetime, discharged: datetime, status: int
) -> None:
    pdu_hex = encode_status_report(
        reference, "+" + digits, sc_timestamp=sent, discharge_time=discharged, status=status
    )
    report = decode(pdu_hex)
    assert isinstance(report, StatusReport)
    assert (report.message_reference, report.recipient, report.status) == (reference, "+" + digits, status)
    assert (report.sc_timestamp, report.discharge_time) == (sent, discharged)
    assert report.sc_timestamp.utcoffset() == sent.utcoffset()


@pytest.mark.parametrize("reference_bits", [8, 16])
@pytest.mark.parametrize(
    ("payload", "sizes"),
    [("a" * 400, {8: [153, 153, 94], 16: [152, 152, 96]}),
     ("ж" * 140, {8: [67, 67, 6], 16: [66, 66, 8]}),
     (bytes(300), {8: [134, 134, 32], 16: [133, 133, 34]})],
)  # fmt: skip
def test_deliver_parts_sized_for_the_header(
    payload: str | bytes, sizes: dict[int, list[int]], reference_bits: int
) -> None:
    pdus = encode_deliver_parts(
        "+1555", payload, sc_timestamp=MOMENT.astimezone(UTC), reference=300 % (1 << reference_bits),
        reference_bits=reference_bits,
    )  # fmt: skip
    messages = [_as_deliver(pdu) for pdu in pdus]
    lengths = [len(m.text) if m.text is not None else len(m.data) for m in messages]
    assert lengths == sizes[reference_bits]
    assert all(m.concat is not None and m.concat.reference_bits == reference_bits for m in messages)
