"""Parsers for identity, SIM and network answers: tables of modem transcripts, then the rejects."""

from __future__ import annotations

import pytest

from gatewayd.at.commands import (
    AtParseError,
    Iccid,
    Imei,
    Imsi,
    Operator,
    OwnNumber,
    OwnNumbers,
    ProductText,
    Registration,
    SignalQuality,
    parse_cereg,
    parse_cgreg,
    parse_cnum,
    parse_cops,
    parse_cpin,
    parse_creg,
    parse_csq,
    parse_iccid,
    parse_imei,
    parse_imsi,
    parse_registration_urc,
    parse_text_response,
    split_fields,
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("SIMCOM_Ltd",), "SIMCOM_Ltd"),  # SIM800 AT+CGMI (SIM800 Series AT Command Manual V1.09)
        (("SIMCOM_SIM800L",), "SIMCOM_SIM800L"),  # SIM800L AT+CGMM
        (("Revision:1418B04SIM800L24",), "1418B04SIM800L24"),  # SIM800L AT+CGMR
        (("+CGMR: LE20B04SIM7600M22",), "LE20B04SIM7600M22"),  # SIM7600 AT+CGMR (SIM7600 AT Manual)
        (("Quectel",), "Quectel"),  # EC25 AT+CGMI (Quectel EC25&EC21 AT Commands Manual)
        (("EC25EFAR06A06M4G",), "EC25EFAR06A06M4G"),  # EC25 AT+CGMR
        (("huawei",), "huawei"),  # E3372 AT+CGMI
        (("+CGMM: E3372",), "E3372"),
    ],
)
def test_text_responses(lines: tuple[str, ...], expected: str) -> None:
    assert parse_text_response(lines) == ProductText(expected)


def test_an_empty_text_response_is_an_error() -> None:
    with pytest.raises(AtParseError, match="empty response"):
        parse_text_response(())


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("868822040061231",), "868822040061231"),  # SIM800 AT+CGSN: bare digits
        (("+CGSN: 861234567890126",), "861234567890126"),  # some SIM7600 firmware prefixes it
        (('+CGSN: "861234567890126"',), "861234567890126"),
    ],
)
def test_imei(lines: tuple[str, ...], expected: str) -> None:
    assert parse_imei(lines) == Imei(expected)


def test_imei_luhn() -> None:
    assert Imei("490154203237518").luhn_valid  # the GSMA's published IMEI example
    assert not Imei("490154203237519").luhn_valid


@pytest.mark.parametrize("lines", [("ERROR",), ("8688220400612",), ("+CGSN: 1234567890123456789",), ()])
def test_bad_imei_is_refused_with_the_line(lines: tuple[str, ...]) -> None:
    with pytest.raises(AtParseError) as raised:
        parse_imei(lines)
    assert all(line.split()[-1] in raised.value.line for line in lines)


def test_imsi() -> None:
    assert parse_imsi(("234150123456789",)) == Imsi("234150123456789")  # EC25 AT+CIMI
    assert parse_imsi(("+CIMI: 460011234567890",)) == Imsi("460011234567890")
    with pytest.raises(AtParseError, match="IMSI"):
        parse_imsi(("2341501234567890",))


ICCID = "89014103211118510720"  # the reading-order ICCID, Luhn-valid
SWAPPED = "98101430121181157002"  # the same as stored in EF_ICCID: BCD nibbles swapped


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((ICCID,), ICCID),  # SIM800 AT+CCID: bare digits
        ((f"+CCID: {ICCID}",), ICCID),  # SIM7600 AT+CCID
        ((f"+ICCID: {ICCID}",), ICCID),  # SIM7600 AT+CICCID
        ((f"+QCCID: {ICCID}",), ICCID),  # Quectel EC25 AT+QCCID
        (("+QCCID: 8944501234567890123F",), "8944501234567890123"),  # 19-digit ICCID, F filler
        ((f"^ICCID: {SWAPPED}",), ICCID),  # Huawei E3372 AT^ICCID? (raw EF_ICCID order)
        ((f'+CRSM: 144,0,"{SWAPPED}"',), ICCID),  # AT+CRSM=176,12258,0,0,10 (TS 102 221 §13.2)
        (('+CRSM: 144,0,"984405214365870921F3"',), "8944501234567890123"),  # swapped + F filler
        ((f'"{ICCID}"',), ICCID),
    ],
)
def test_iccid_in_every_dialect(lines: tuple[str, ...], expected: str) -> None:
    assert parse_iccid(lines) == Iccid(expected)


@pytest.mark.parametrize(
    "line",
    [
        '+CRSM: 106,130,""',  # file not found (sw1 0x6A)
        "+CRSM: 144,0",
        "+CSQ: 21,99",
        "8901410321",
        "89014103211118510720XYZ",
    ],
)
def test_bad_iccid_answers(line: str) -> None:
    with pytest.raises(AtParseError) as raised:
        parse_iccid((line,))
    assert raised.value.line == line


def test_iccid_luhn() -> None:
    assert Iccid(ICCID).luhn_valid
    assert not Iccid("89014103211118510721").luhn_valid


def test_cnum() -> None:
    # SIM800: AT+CNUM → +CNUM: "","+447700900123",145,7,4 (speed, service per TS 27.007 §7.1)
    assert parse_cnum(('+CNUM: "","+447700900123",145,7,4',)) == OwnNumbers(
        (OwnNumber(None, "+447700900123", 145),)
    )
    two = parse_cnum(('+CNUM: "Voice, main","+447700900123",145', '+CNUM: "Data","07700900124",129'))
    assert two.number == "+447700900123"
    assert two.entries[0].alpha == "Voice, main"
    assert parse_cnum(()).number is None  # SIM without MSISDN: just OK
    assert parse_cnum(('+CNUM: "",""',)).entries == ()
    with pytest.raises(AtParseError):
        parse_cnum(("+CNUM: 5",))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("+CPIN: READY", ("READY", True, False)),
        ("+CPIN: SIM PIN", ("SIM PIN", False, False)),
        ("+CPIN: SIM PUK", ("SIM PUK", False, True)),
        ("+CPIN: PH-NET PIN", ("PH-NET PIN", False, False)),
        ("+CPIN: NOT INSERTED", ("NOT INSERTED", False, False)),  # SIM800
    ],
)
def test_cpin(line: str, expected: tuple[str, bool, bool]) -> None:
    state = parse_cpin((line,))
    assert (state.code, state.ready, state.needs_puk) == expected


def test_cpin_without_a_state() -> None:
    with pytest.raises(AtParseError):
        parse_cpin(("+CPIN: ",))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("+CSQ: 0,0", SignalQuality(0, 0, -113, 0)),
        ("+CSQ: 21,99", SignalQuality(21, None, -71, 68)),
        ("+CSQ: 31,7", SignalQuality(31, 7, -51, 100)),
        ("+CSQ: 99,99", SignalQuality(99, None, None, None)),  # not known or not detectable
        ("+CSQ: 100,99", SignalQuality(100, None, -116, 0)),  # SIM7600 TD-SCDMA range
        ("+CSQ: 191,99", SignalQuality(191, None, -25, 100)),
    ],
)
def test_csq(line: str, expected: SignalQuality) -> None:
    assert parse_csq((line,)) == expected


@pytest.mark.parametrize("line", ["+CSQ: 32,0", "+CSQ: 21", "+CSQ: 21,8", "+CSQ: x,0", "+CSQ: 192,99"])
def test_csq_rejects(line: str) -> None:
    with pytest.raises(AtParseError):
        parse_csq((line,))


def test_csq_missing_line_names_what_it_got() -> None:
    with pytest.raises(AtParseError, match=r"no \+CSQ line.*\+CREG"):
        parse_csq(("+CREG: 0,1",))


def test_registration_queries() -> None:
    home = parse_creg(("+CREG: 0,1",))
    assert home == Registration(0, 1, None, None, None)
    assert home.registered and home.status_name == "registered_home"
    # SIM7600 with AT+CREG=2: lac and ci in hex (TS 27.007 §7.2)
    assert parse_creg(('+CREG: 2,5,"1A2B","00C3D4E5",7',)) == Registration(2, 5, 0x1A2B, 0xC3D4E5, 7)
    assert parse_cgreg(('+CGREG: 2,1,"1A2B","01A2B3C4",2,"00"',)).ci == 0x01A2B3C4
    lte = parse_cereg(('+CEREG: 2,1,"0D2F","01A2B3C4",7',))  # EC25
    assert (lte.lac, lte.act) == (0x0D2F, 7)
    searching = parse_creg(("+CREG: 0,2",))
    assert not searching.registered and searching.status_name == "searching"
    assert Registration(0, 42, None, None, None).status_name == "stat_42"


def test_registration_urcs_have_no_n() -> None:
    assert parse_registration_urc("+CREG: 1") == Registration(None, 1, None, None, None)
    roaming = parse_registration_urc('+CEREG: 5,"0D2F","01A2B3C4",7')
    assert roaming == Registration(None, 5, 0x0D2F, 0x01A2B3C4, 7)
    with pytest.raises(AtParseError):
        parse_registration_urc("+CSQ: 1,2")


@pytest.mark.parametrize("line", ["+CREG: 1", '+CREG: 2,1,"XYZ","00"', "+CREG: a,b"])
def test_registration_rejects(line: str) -> None:
    with pytest.raises(AtParseError):
        parse_creg((line,))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('+COPS: 0,0,"Vodafone UK",7', Operator(0, 0, "Vodafone UK", 7)),  # EC25
        ('+COPS: 0,0,"CHINA MOBILE"', Operator(0, 0, "CHINA MOBILE", None)),  # SIM800: no AcT
        ('+COPS: 0,2,"23415",7', Operator(0, 2, "23415", 7)),
        ("+COPS: 0", Operator(0, None, None, None)),  # not registered
        ('+COPS: 1,0,"O2 - UK, Ltd",2', Operator(1, 0, "O2 - UK, Ltd", 2)),  # comma inside quotes
    ],
)
def test_cops(line: str, expected: Operator) -> None:
    assert parse_cops((line,)) == expected


def test_split_fields_honours_quotes() -> None:
    assert split_fields('"a,b", 3 ,,"" ') == ["a,b", "3", "", ""]
    assert split_fields("") == [""]
