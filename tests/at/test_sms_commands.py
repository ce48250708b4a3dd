"""SMS storage/read/send parsers and builders (TS 27.005, PDU mode) on modem transcripts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gatewayd.at.commands import (
    AtParseError,
    ListedMessage,
    MemoryUsage,
    MessageStorage,
    StorageIndication,
    StoredMessage,
    SubmitResult,
    build_cmgd,
    build_cmgf_pdu,
    build_cmgl,
    build_cmgr,
    build_cmgs,
    build_cnmi,
    build_cpms,
    parse_cdsi,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
    parse_cmti,
    parse_cpms,
)
from gatewayd.at.events import AtCommand

# SMS-DELIVER from the GSM 03.40 PDU tutorials: 8-octet SMSC part, 30-octet TPDU.
PDU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
# The same TPDU stored without an SMSC (first octet 00), as Huawei sticks list messages they wrote.
NO_SMSC_PDU = "00040B911346610089F60000208062917314080CC8F71D14969741F977FD07"


def test_cpms_query_and_set_answers() -> None:
    # EC25 AT+CPMS? (Quectel EC25 AT Commands Manual, AT+CPMS example)
    assert parse_cpms(('+CPMS: "SM",3,50,"SM",3,50,"SM",3,50',)) == MessageStorage(
        MemoryUsage("SM", 3, 50), MemoryUsage("SM", 3, 50), MemoryUsage("SM", 3, 50)
    )
    # SIM800 AT+CPMS="SM","SM","SM" answers counts only (TS 27.005 §3.2.2)
    storage = parse_cpms(("+CPMS: 0,30,1,30,30,30",))
    assert storage.read == MemoryUsage(None, 0, 30)
    assert storage.receive == MemoryUsage(None, 30, 30)
    mixed = parse_cpms(('+CPMS: "ME",1,23,"ME",1,23,"SM",5,10',))
    assert (mixed.write.memory, mixed.receive.memory, mixed.receive.used) == ("ME", "SM", 5)


@pytest.mark.parametrize(
    "line",
    ['+CPMS: "SM",3,50,"SM",3,50', "+CPMS: 0,30,1,30", '+CPMS: "SM",51,50,"SM",3,50,"SM",3,50', "+CPMS: x"],
)
def test_cpms_rejects(line: str) -> None:
    with pytest.raises(AtParseError) as raised:
        parse_cpms((line,))
    assert raised.value.line == line


def test_cmgl_pairs_headers_with_their_pdus() -> None:
    lines = (
        "+CMGL: 1,1,,30",
        PDU,
        '+CMGL: 4,0,"Mum, home",30',  # an alpha with a comma (TS 27.005 §3.1 <alpha>)
        PDU.lower(),
        "+CMGL: 7,3,,30",
        NO_SMSC_PDU,
    )
    listed = parse_cmgl(lines)
    assert listed == (
        ListedMessage(1, 1, None, 30, PDU),
        ListedMessage(4, 0, "Mum, home", 30, PDU),
        ListedMessage(7, 3, None, 30, NO_SMSC_PDU),
    )
    assert all(message.length_matches for message in listed)
    assert parse_cmgl(()) == ()


def test_cmgl_accepts_text_words_for_stat() -> None:
    # Some firmware prints the text-mode word even in PDU mode.
    assert parse_cmgl(('+CMGL: 2,"REC UNREAD",,30', PDU))[0].stat == 0


def test_a_truncated_pdu_is_visible_as_a_length_mismatch() -> None:
    (message,) = parse_cmgl(("+CMGL: 1,1,,30", PDU[:-4]))
    assert not message.length_matches


@pytest.mark.parametrize(
    "lines",
    [
        ("+CMGL: 1,1,,30",),  # header without its PDU
        ("+CMGL: 1,1,,30", "+CMGL: 2,1,,30"),
        ("+CMGL: 1,1,30", PDU),  # too few fields
        ("+CMGL: x,1,,30", PDU),
        (PDU,),  # PDU without a header
        ("+CMGL: 1,1,,30", "07911"),  # odd-length hex is not a PDU
    ],
)
def test_cmgl_rejects(lines: tuple[str, ...]) -> None:
    with pytest.raises(AtParseError):
        parse_cmgl(lines)


def test_cmgr() -> None:
    assert parse_cmgr(("+CMGR: 0,,30", PDU)) == StoredMessage(0, None, 30, PDU)
    assert parse_cmgr(('+CMGR: 1,"Bob",30', PDU)) == StoredMessage(1, "Bob", 30, PDU)
    assert parse_cmgr(()) is None  # empty slot: a bare OK
    assert parse_cmgr(("+CMGR: 0,,0",)) is None  # empty slot, the other dialect
    with pytest.raises(AtParseError):
        parse_cmgr(("+CMGR: 0,,30",))
    with pytest.raises(AtParseError):
        parse_cmgr(("+CMGR: 0,30", PDU))


def test_cmgs() -> None:
    assert parse_cmgs(("+CMGS: 47",)) == SubmitResult(47, None)
    assert parse_cmgs(('+CMGS: 0,"0001"',)) == SubmitResult(0, "0001")
    for bad in ("+CMGS: 256", "+CMGS: ", "+CMGS: -1"):
        with pytest.raises(AtParseError):
            parse_cmgs((bad,))


def test_cmti_and_cdsi() -> None:
    assert parse_cmti('+CMTI: "SM",3') == StorageIndication("SM", 3)
    assert parse_cmti('+CMTI: "ME",12') == StorageIndication("ME", 12)  # EC25 with CPMS "ME"
    assert parse_cmti('"SM",3') == StorageIndication("SM", 3)  # the payload alone
    assert parse_cdsi('+CDSI: "SR",5') == StorageIndication("SR", 5)
    for bad in ('+CMTI: "SM"', '+CDSI: "SR",5', "+CMTI: ,3", '+CMTI: "SM",x'):
        with pytest.raises(AtParseError):
            parse_cmti(bad)


def test_builders() -> None:
    assert build_cmgf_pdu() == AtCommand("AT+CMGF=0")
    assert build_cnmi() == AtCommand("AT+CNMI=2,1,0,1,0")
    assert build_cnmi(mode=1, mt=2, ds=0) == AtCommand("AT+CNMI=1,2,0,0,0")
    assert build_cpms("SM", "SM", "SM") == AtCommand('AT+CPMS="SM","SM","SM"')
    assert build_cpms("ME") == AtCommand('AT+CPMS="ME"')
    assert build_cmgl().text == "AT+CMGL=4"
    assert build_cmgr(3) == AtCommand("AT+CMGR=3")
    assert build_cmgd(3) == AtCommand("AT+CMGD=3")
    assert build_cmgd(1, delflag=4) == AtCommand("AT+CMGD=1,4")


@pytest.mark.parametrize(
    ("pdu", "length"),
    [
        ("0011000B914407485476F70000AA05E8329BFD06", 19),  # no SMSC: 20 octets, 19 after "00"
        ("07911326040000F011000B914407485476F70000AA05E8329BFD06", 19),  # with an SMSC part
    ],
)
def test_cmgs_builder_counts_tpdu_octets_only(pdu: str, length: int) -> None:
    command = build_cmgs(pdu.lower())
    assert command.text == f"AT+CMGS={length}"
    assert command.payload == pdu.upper()
    assert command.timeout_s == 60.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_cnmi(mode=4),
        lambda: build_cnmi(ds=3),
        lambda: build_cpms('SM"'),
        lambda: build_cmgl(5),
        lambda: build_cmgr(-1),
        lambda: build_cmgd(1, delflag=5),
        lambda: build_cmgs("00"),
        lambda: build_cmgs("0011G0"),
        lambda: build_cmgs("001"),
    ],
)
def test_builders_refuse_nonsense(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()
