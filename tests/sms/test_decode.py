"""Decoding received PDUs: published real-world PDUs, then one table per field (TS 23.040 / TS 23.038)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gatewayd.sms.pdu import (
    AddressType,
    Concat,
    Deliver,
    Encoding,
    StatusReport,
    decode,
    decode_deliver,
    decode_status_report,
    decode_submit,
)


def zone(hours: int, minutes: int = 0) -> timezone:
    sign = -1 if hours < 0 else 1
    return timezone(sign * timedelta(hours=abs(hours), minutes=minutes))


# (source, PDU as AT+CMGR prints it, expected fields)
REAL_WORLD_DELIVERS = [
    (
        "dreamfabric.com SMS PDU tutorial (also python-gsmmodem test_pdu.py)",
        "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
        {"smsc": "+31624000000", "sender": "+31641600986", "text": "How are you?",
         "sc_timestamp": datetime(2002, 8, 26, 19, 37, 41, tzinfo=UTC)},
    ),
    (
        "developershome.com AT command SMS tutorial, +CMGR example",
        "07915892000000F0040B915892214365F700007040213252242331493A283D0795C3F33C88FE06C9CB6132885EC6D341EDF2"
        "7C1E3E97E7207B3A0C0A5241E377BB1D7693E72E",
        {"smsc": "+85290000000", "sender": "+85291234567",
         "text": "It is easy to read text messages via AT commands.",
         "sc_timestamp": datetime(2007, 4, 12, 23, 25, 42, tzinfo=zone(8))},
    ),
    (
        "python-gsmmodem test_pdu.py (South African network capture)",
        "06917228195339040B917228214365F700003130805120618005D4F29C2E03",
        {"smsc": "+2782913593", "sender": "+27821234567", "text": "Test2",
         "sc_timestamp": datetime(2013, 3, 8, 15, 2, 16, tzinfo=zone(2))},
    ),
    (
        "python-gsmmodem test_pdu.py: '@' first, escapes, basic-table é",
        "06917228195339040B917228214365F70000313062315352800A800D8A5E98D337A910",
        {"text": "@{tést}!"},
    ),
    (
        "python-gsmmodem test_pdu.py: network airtime notice, short code sender, 8-bit concat 1/1",
        "0591721891F1400781721881F800003160526104848059050003C30101916536FB1DCABEEB2074D85E064941B19CAB0603"
        "19A5C522289C96D3D3ED32286C0FA7D96131BBEC024941B19CAB0603DDD36C36A88C87A7E565D0DB0D82C55EB0DB4B068B"
        "CD5C20",
        {"smsc": "+2781191", "sender": "2781188", "sender_type": AddressType.UNKNOWN,
         "text": "Hello!You have R 19.50 FREE airtime available. R 19.50 will expire on 01/07/2013. ",
         "concat": Concat(reference=0xC3, total=1, sequence=1, reference_bits=8)},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "pdu_hex", "expected"), REAL_WORLD_DELIVERS, ids=[row[0] for row in REAL_WORLD_DELIVERS]
)
def test_real_world_delivers(source: str, pdu_hex: str, expected: dict[str, object]) -> None:
    message = decode(pdu_hex)
    assert isinstance(message, Deliver), source
    for name, value in expected.items():
        assert getattr(message, name) == value, name
    assert pdu_hex.endswith(message.tpdu_hex)
    assert decode_deliver(pdu_hex) == message


def test_real_world_status_report() -> None:
    # diafaan.com PDU examples (also python-gsmmodem test_pdu.py): delivered, no SMSC part.
    report = decode("0006D60B911326880736F4111011719551401110117195714000")
    assert report == StatusReport(
        smsc=None,
        message_reference=214,
        recipient="+31628870634",
        sc_timestamp=datetime(2011, 1, 11, 17, 59, 15, tzinfo=zone(1)),
        discharge_time=datetime(2011, 1, 11, 17, 59, 17, tzinfo=zone(1)),
        status=0,
        tpdu_hex="06D60B911326880736F4111011719551401110117195714000",
    )
    assert report.delivered and not report.pending and not report.failed


def test_zte_status_report_with_odd_address_still_decodes() -> None:
    # python-gsmmodem test_pdu.py: "semi-invalid status report PDU captured from a ZTE modem".
    report = decode_status_report("0297F1061C0F910B487228297020F5317062419272803170624192138000")
    assert report.message_reference == 28
    assert report.sc_timestamp == datetime(2013, 7, 26, 14, 29, 27, tzinfo=zone(2))
    assert report.discharge_time == datetime(2013, 7, 26, 14, 29, 31, tzinfo=zone(2))


@pytest.mark.parametrize(
    ("status", "delivered", "pending", "failed"),
    [(0x00, True, False, False), (0x1F, True, False, False), (0x20, False, True, False),
     (0x3F, False, True, False), (0x40, False, False, True), (0x65, False, False, True)],
)  # fmt: skip
def test_status_classes_per_ts_23_040_9_2_3_15(
    status: int, delivered: bool, pending: bool, failed: bool
) -> None:
    report = decode(f"0006D60B911326880736F41110117195514011101171957140{status:02X}")
    assert isinstance(report, StatusReport)
    assert (report.delivered, report.pending, report.failed) == (delivered, pending, failed)


@pytest.mark.parametrize(
    ("source", "pdu_hex", "recipient", "text", "validity_minutes"),
    [
        ("Wikipedia 'GSM 03.40' SMS-SUBMIT example", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
         "+46708251358", "hellohello", 4 * 24 * 60),
        ("diafaan.com SMS-SUBMIT example",
         "07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701",
         "+31628870634", "www.diafaan.com", 3 * 24 * 60),
        ("python-gsmmodem test_pdu.py UCS-2 submit", "07914346466554F601000B914316565811F9000806304253F68449",
         "+34616585119", "あ叶葉", None),
    ],
)  # fmt: skip
def test_real_world_submits(
    source: str, pdu_hex: str, recipient: str, text: str, validity_minutes: int | None
) -> None:
    submit = decode_submit(pdu_hex)
    decoded = (submit.recipient, submit.text, submit.validity_minutes)
    assert decoded == (recipient, text, validity_minutes), source


# Building blocks for hand-made DELIVERs: each field is written out so the table reads like the spec.
OA_INTL = "0C91947110325476"  # +491701234567
SCTS = "42102030405080"  # 2024-01-02 03:04:05 +02:00


def deliver_hex(*, first: str = "04", oa: str = OA_INTL, dcs: str = "00", scts: str = SCTS, ud: str) -> str:
    return "00" + first + oa + "00" + dcs + scts + ud


GSM7_HELLO = ("05E8329BFD06", Encoding.GSM7, "hello", bytes.fromhex("E8329BFD06"))
UCS2_HI = ("0400680069", Encoding.UCS2, "hi", bytes.fromhex("00680069"))
BINARY_123 = ("03010203", Encoding.BINARY, None, b"\x01\x02\x03")


@pytest.mark.parametrize(
    ("dcs", "sample", "message_class"),
    [
        ("00", GSM7_HELLO, None),
        ("10", GSM7_HELLO, 0),  # class 0 (flash)
        ("04", BINARY_123, None),
        ("08", UCS2_HI, None),
        ("0C", GSM7_HELLO, None),  # reserved alphabet
        ("18", UCS2_HI, 0),
        ("40", GSM7_HELLO, None),  # auto-deletion
        ("48", UCS2_HI, None),
        ("52", GSM7_HELLO, 2),
        ("F0", GSM7_HELLO, 0),
        ("F3", GSM7_HELLO, 3),
        ("F5", BINARY_123, 1),  # SIM data download style
        ("F6", BINARY_123, 2),
        ("C8", GSM7_HELLO, None),  # MWI discard
        ("D9", GSM7_HELLO, None),  # MWI store
        ("E8", UCS2_HI, None),  # MWI store, UCS-2
        ("80", GSM7_HELLO, None),  # reserved group
    ],
)
def test_data_coding_schemes_per_ts_23_038_4(
    dcs: str, sample: tuple[str, Encoding, str | None, bytes], message_class: int | None
) -> None:
    ud, encoding, text, data = sample
    message = decode_deliver(deliver_hex(dcs=dcs, ud=ud))
    assert (message.encoding, message.text, message.data) == (encoding, text, data)
    assert (message.dcs, message.message_class) == (int(dcs, 16), message_class)


@pytest.mark.parametrize("dcs", ["20", "24", "28", "30", "3C", "60", "74"])
def test_compressed_user_data_is_refused_with_evidence(dcs: str) -> None:
    pdu_hex = deliver_hex(dcs=dcs, ud="05E8329BFD06")
    with pytest.raises(ValueError, match=f"DCS 0x{dcs}.*compressed") as caught:
        decode(pdu_hex)
    assert caught.value.args[0].endswith(pdu_hex)


@pytest.mark.parametrize(
    ("oa", "sender", "sender_type"),
    [
        ("0C91947110325476", "+491701234567", AddressType.INTERNATIONAL),
        ("0BA17110325476F8", "17012345678", AddressType.NATIONAL),  # odd length: F filler
        ("05811032F5", "01235", AddressType.UNKNOWN),
        ("04B12143", "1234", AddressType.UNKNOWN),  # TON 3 (network specific) reads as unknown digits
        ("05A1BA21F3", "*#123", AddressType.NATIONAL),  # semi-octets A and B are * and # (§9.1.2.3)
        ("06D061F118", "abc", AddressType.ALPHANUMERIC),  # python-gsmmodem test vectors
        ("0ED04669D0397C26A7", "FRANCOIS", AddressType.ALPHANUMERIC),
        ("14D0E10D6FE3DBA036A94D19", "a[]{}€", AddressType.ALPHANUMERIC),
        # 7 characters: 49 bits. The spec length is 13 semi-octets; some SCs send 14, whose 7 spare bits
        # must not become a trailing '@' (smspdudecoder gets this wrong), nor a trailing CR pad.
        ("0DD0D364535A64061B", "SIMRELA", AddressType.ALPHANUMERIC),
        ("0ED0D364535A640601", "SIMRELA", AddressType.ALPHANUMERIC),
        ("0ED0D364535A64061B", "SIMRELA", AddressType.ALPHANUMERIC),
    ],
)  # fmt: skip
def test_originating_addresses(oa: str, sender: str, sender_type: AddressType) -> None:
    message = decode_deliver(deliver_hex(oa=oa, ud="00"))
    assert (message.sender, message.sender_type) == (sender, sender_type)


@pytest.mark.parametrize(
    ("scts", "expected"),
    [
        ("42102030405000", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("51117200000080", datetime(2015, 11, 27, tzinfo=zone(2))),  # python-gsmmodem vectors
        ("7040213252242B", datetime(2007, 4, 12, 23, 25, 42, tzinfo=zone(-8))),
        ("42102030405032", datetime(2024, 1, 2, 3, 4, 5, tzinfo=zone(5, 45))),  # Nepal, 23 quarters
        ("42102030405022", datetime(2024, 1, 2, 3, 4, 5, tzinfo=zone(5, 30))),  # India
        ("42102030405049", datetime(2024, 1, 2, 3, 4, 5, tzinfo=zone(-3, 30))),  # Newfoundland
        ("99211332959508", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),  # "-0"
    ],
)  # fmt: skip
def test_sc_timestamps_keep_the_offset_sent(scts: str, expected: datetime) -> None:
    stamp = decode_deliver(deliver_hex(scts=scts, ud="00")).sc_timestamp
    assert stamp == expected
    assert stamp.utcoffset() == expected.utcoffset()


def test_trailing_at_sign_is_kept_when_udl_counts_it() -> None:
    # python-gsmmodem defect 4: "abcdefg@" is 8 septets in 7 octets; the UDL says 8, so the '@' is text.
    message = decode_deliver(deliver_hex(ud="0861F1985C369F01"))
    assert message.text == "abcdefg@"
    assert decode_deliver(deliver_hex(ud="0761F1985C369F01")).text == "abcdefg"


def test_cr_padding_in_seven_spare_bits_is_not_text() -> None:
    # TS 23.038 §6.1.2.3.1: 7 characters, the spare bits hold CR; the UDL (7) keeps it out of the text.
    message = decode_deliver(deliver_hex(ud="0731D98C56B3DD1A"))
    assert message.text == "1234567"


def test_form_feed_and_undefined_escape() -> None:
    # "a" ESC 0x0A "b" ESC 0x41 (undefined: shows "A") -> "a\fbA"  (TS 23.038 §6.2.1.1)
    message = decode_deliver(deliver_hex(ud="06E18D42BC0902"))
    assert message.text == "a\x0cbA"


def test_ucs2_emoji_decode_to_real_characters() -> None:
    message = decode_deliver(deliver_hex(dcs="08", ud="0AD83DDE000020D83CDF89"))
    assert message.text == "😀 🎉"


@pytest.mark.parametrize(
    ("ud", "text"),
    [
        ("04D83D0041", "\ufffdA"),  # high surrogate followed by a letter
        ("04DE000041", "\ufffdA"),  # low surrogate alone
        ("02D83D", "\ufffd"),  # high surrogate at the end
        ("03004100", "A\ufffd"),  # odd octet count
    ],
)
def test_broken_ucs2_becomes_replacement_characters_not_lone_surrogates(ud: str, text: str) -> None:
    message = decode_deliver(deliver_hex(dcs="08", ud=ud))
    assert message.text == text
    assert message.text.encode("utf-8")


def test_gsm7_with_16_bit_reference_keeps_its_first_character() -> None:
    # python-gsmmodem defect 3. UDH 06 08 04 1234 02 01 = 7 octets = 56 bits: fill 0, header takes 8 septets.
    message = decode_deliver(deliver_hex(first="44", ud="0D" + "06080412340201" + "E8329BFD06"))
    assert message.text == "hello"
    assert message.concat == Concat(reference=0x1234, total=2, sequence=1, reference_bits=16)


def test_gsm7_with_8_bit_reference_skips_one_fill_bit() -> None:
    # UDH 05 00 03 AB 02 02 = 6 octets = 48 bits: 1 fill bit, header takes 7 septets; "hello" shifted by 1.
    message = decode_deliver(deliver_hex(first="44", ud="0C" + "050003AB0202" + "D06536FB0D"))
    assert message.text == "hello"
    assert message.concat == Concat(reference=0xAB, total=2, sequence=2, reference_bits=8)


@pytest.mark.parametrize(
    ("header", "concat"),
    [
        ("0B" + "0504 0B84 23F0" + "000302 0301", Concat(2, 3, 1, 8)),  # port IE skipped, then concat
        ("07" + "000302 0301" + "7000", Concat(2, 3, 1, 8)),  # unknown IE after the concat IE
        ("05" + "000300 0300", None),  # sequence 0: the IE "shall be ignored" (§9.2.3.24.1)
        ("05" + "000300 0004", None),  # sequence beyond total
        ("05" + "000307 0000", None),  # total 0
        ("04" + "0002 0703", None),  # concat IE with the wrong length is not a concat IE
    ],
)  # fmt: skip
def test_user_data_header_elements(header: str, concat: Concat | None) -> None:
    header = header.replace(" ", "")
    ud_octets = len(header) // 2 + 2
    message = decode_deliver(deliver_hex(first="44", dcs="04", ud=f"{ud_octets:02X}{header}CAFE"))
    assert message.concat == concat
    assert message.data == b"\xca\xfe"


def test_reserved_mti_is_read_as_deliver() -> None:
    # TS 23.040 §9.2.3.1: a reserved TP-MTI is processed as SMS-DELIVER.
    assert isinstance(decode(deliver_hex(first="07", ud="05E8329BFD06")), Deliver)


def test_without_smsc_part() -> None:
    message = decode(deliver_hex(ud="05E8329BFD06")[2:], with_smsc=False)
    assert isinstance(message, Deliver)
    assert message.text == "hello"
    assert message.smsc is None
