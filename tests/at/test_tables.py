"""The data tables: final result codes, the URC table and command names, CMS/CME codes and send failures."""

from __future__ import annotations

import pytest

from gatewayd.at.codes import (
    CME_ERRORS,
    CMS_ERRORS,
    SendFailureKind,
    classify_send_failure,
    cme_code_for_text,
    cms_code_for_text,
    describe_cme,
    describe_cms,
)
from gatewayd.at.results import FinalResult, FinalResultTable
from gatewayd.at.urc import UrcMatch, UrcTable, line_name, looks_like_pdu, names_queried_by


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("OK", FinalResult("OK", success=True)),
        ("ERROR", FinalResult("ERROR", success=False)),
        ("NO CARRIER", FinalResult("NO CARRIER", success=False)),
        ("+CME ERROR: 11", FinalResult("+CME ERROR: 11", success=False, cme=11)),
        ("+CME ERROR:11", FinalResult("+CME ERROR:11", success=False, cme=11)),
        ("+CME ERROR: SIM PIN required", FinalResult("+CME ERROR: SIM PIN required", success=False, cme=11)),
        ("+CMS ERROR: 500", FinalResult("+CMS ERROR: 500", success=False, cms=500)),
        ("+CMS ERROR: SMSC address unknown", FinalResult("+CMS ERROR: SMSC address unknown", False, cms=330)),
        ("+cms error: 304", FinalResult("+cms error: 304", success=False, cms=304)),
        ("OKAY", None),
        ("+CSQ: 21,99", None),
        ("SEND OK", None),  # only when the profile says so
    ],
)
def test_standard_finals(line: str, expected: FinalResult | None) -> None:
    assert FinalResultTable().classify(line) == expected


def test_vendor_finals_exact_or_by_prefix() -> None:
    table = FinalResultTable(extra_ok=["SEND OK", " "], extra_error=["COMMAND NOT SUPPORT", "+CIPERR:"])
    assert table.classify("SEND OK") == FinalResult("SEND OK", success=True)
    assert table.classify("COMMAND NOT SUPPORT") == FinalResult("COMMAND NOT SUPPORT", success=False)
    assert table.classify("+CIPERR: 3") == FinalResult("+CIPERR: 3", success=False)
    assert table.classify("SEND OK!") is None
    assert table.classify("") is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('+CMTI: "SM",3', UrcMatch("+CMTI", ignored=False, expects_pdu=False)),
        ("+CMT: ,30", UrcMatch("+CMT", ignored=False, expects_pdu=True)),
        ('+CMT: "Mum",30', UrcMatch("+CMT", ignored=False, expects_pdu=True)),
        ("+CDS: 25", UrcMatch("+CDS", ignored=False, expects_pdu=True)),
        ('+CDS: 6,12,"+31641600986",145', UrcMatch("+CDS", ignored=False, expects_pdu=False)),
        ("^RSSI:14", UrcMatch("^RSSI", ignored=True, expects_pdu=False)),
        ("Call Ready", UrcMatch("Call Ready", ignored=False, expects_pdu=False)),
        ("+QIND: SMS DONE", UrcMatch("+QIND", ignored=False, expects_pdu=False)),
        ("+CSQ: 21,99", None),
        ("OK", None),
        ("RINGO", None),
    ],
)
def test_urc_table(line: str, expected: UrcMatch | None) -> None:
    assert UrcTable(ignored_prefixes=["^RSSI:"]).match(line) == expected


def test_names_a_command_queries() -> None:
    assert names_queried_by("AT+CREG?") == {"+CREG"}
    assert names_queried_by("at+creg?;+cgreg?") == {"+CREG", "+CGREG"}
    assert names_queried_by("AT^SYSINFO") == {"^SYSINFO"}
    assert names_queried_by("AT+CMGL=4") == {"+CMGL"}
    assert names_queried_by("ATI") == frozenset()
    assert names_queried_by("AT") == frozenset()


def test_line_names_and_pdus() -> None:
    assert line_name('+CMTI: "SM",3') == "+CMTI"
    assert line_name("RDY") == "RDY"
    assert line_name("^BOOT:20386046") == "^BOOT"
    assert looks_like_pdu("0791AB")
    assert not looks_like_pdu("0791A")
    assert not looks_like_pdu("Hello")
    assert not looks_like_pdu("")


def test_code_tables_describe_and_reverse() -> None:
    assert describe_cms(321) == "Invalid memory index"
    assert describe_cms(600) == "Manufacturer-specific error 600"
    assert describe_cms(400) == "Unknown +CMS error 400"
    assert describe_cme(10) == "SIM not inserted"
    assert describe_cme(999) == "Unknown +CME error 999"
    assert cme_code_for_text("  sim NOT inserted ") == 10
    assert cms_code_for_text("U)SIM busy") is None
    assert cms_code_for_text("SIM busy") == 314  # "(U)" dropped when comparing (EC25 says "SIM busy")
    assert cme_code_for_text("frobnicated") is None


def test_every_code_reverses_to_itself_unless_the_wording_is_shared() -> None:
    for table, reverse in ((CMS_ERRORS, cms_code_for_text), (CME_ERRORS, cme_code_for_text)):
        for text in table.values():
            found = reverse(text)
            assert found is not None
            assert table[found] == text


@pytest.mark.parametrize(
    ("cms", "kind"),
    [
        (500, SendFailureKind.TRANSIENT),  # unknown error: SIM800/EC25 use it for radio failures
        (331, SendFailureKind.TRANSIENT),  # no network service
        (332, SendFailureKind.TRANSIENT),  # network timeout
        (41, SendFailureKind.TRANSIENT),  # temporary failure (TS 24.011 Table 8.4)
        (42, SendFailureKind.TRANSIENT),  # congestion
        (314, SendFailureKind.TRANSIENT),  # SIM busy
        (1, SendFailureKind.PERMANENT),  # unassigned number
        (21, SendFailureKind.PERMANENT),  # short message transfer rejected
        (304, SendFailureKind.PERMANENT),  # invalid PDU mode parameter
        (310, SendFailureKind.PERMANENT),  # SIM not inserted
        (330, SendFailureKind.PERMANENT),  # SMSC address unknown
        (196, SendFailureKind.PERMANENT),  # destination SME barred
        (None, SendFailureKind.TRANSIENT),  # bare ERROR: let the bounded retry decide
        (777, SendFailureKind.TRANSIENT),  # manufacturer-specific
    ],
)
def test_send_failure_classification(cms: int | None, kind: SendFailureKind) -> None:
    assert classify_send_failure(cms) is kind
