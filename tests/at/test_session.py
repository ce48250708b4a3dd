"""AtSession against modem transcripts: echo, URCs mid-response, prompts, errors, timeouts, late answers."""

from __future__ import annotations

import pytest

from gatewayd.at.session import (
    AtCommand,
    AtSession,
    CommandCompleted,
    CommandFailed,
    CommandTimedOut,
    Event,
    GarbageDiscarded,
    LocalProtocolError,
    StaleResponseDiscarded,
    UnknownLine,
    UnsolicitedResult,
)

# A real SMS-DELIVER as AT+CMGL prints it (SMSC +31624000000, from +31641600986, "How are you?"),
# the worked example of the GSM 03.40 PDU tutorials; 30 TPDU octets after the 8-octet SMSC part.
PDU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"


def events_of(session: AtSession) -> list[Event]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def test_a_command_goes_out_as_at_text_and_cr() -> None:
    session = AtSession()
    session.send(AtCommand("AT+CSQ"), now=0.0)
    assert session.data_to_send() == b"AT+CSQ\r"
    assert session.data_to_send() == b""
    assert session.in_flight == AtCommand("AT+CSQ")
    assert session.timer() == 5.0


def test_echo_is_dropped_and_the_response_completes() -> None:
    session = AtSession()
    command = AtCommand("AT+CSQ")
    session.send(command, 0.0)
    session.receive_data(b"AT+CSQ\r\r\n+CSQ: 21,99\r\n\r\nOK\r\n")  # SIM800 with ATE1
    assert events_of(session) == [CommandCompleted(command, ("+CSQ: 21,99",), "OK")]
    assert session.in_flight is None
    assert session.timer() is None


def test_a_cmti_in_the_middle_of_a_cmgl_response_is_a_urc_not_a_response_line() -> None:
    session = AtSession()
    command = AtCommand("AT+CMGL=4")
    session.send(command, 0.0)
    session.receive_data(
        b"AT+CMGL=4\r\r\n+CMGL: 1,1,,30\r\n" + PDU.encode() + b"\r\n"
        b'+CMTI: "SM",2\r\n'
        b"+CMGL: 2,0,,30\r\n" + PDU.encode() + b"\r\n\r\nOK\r\n"
    )
    assert events_of(session) == [
        UnsolicitedResult("+CMTI", '+CMTI: "SM",2', None),
        CommandCompleted(command, ("+CMGL: 1,1,,30", PDU, "+CMGL: 2,0,,30", PDU), "OK"),
    ]


def test_creg_answers_a_creg_query_but_is_a_urc_otherwise() -> None:
    session = AtSession()
    query = AtCommand("AT+CREG?")
    session.send(query, 0.0)
    session.receive_data(b"\r\n+CREG: 0,1\r\n\r\nOK\r\n")
    csq = AtCommand("AT+CSQ")
    session.send(csq, 1.0)
    session.receive_data(b"\r\n+CREG: 1\r\n+CSQ: 20,0\r\n\r\nOK\r\n")
    assert events_of(session) == [
        CommandCompleted(query, ("+CREG: 0,1",), "OK"),
        UnsolicitedResult("+CREG", "+CREG: 1", None),
        CommandCompleted(csq, ("+CSQ: 20,0",), "OK"),
    ]


def test_a_compound_query_claims_each_of_its_names() -> None:
    session = AtSession()
    query = AtCommand("AT+CREG?;+CGREG?")
    session.send(query, 0.0)
    session.receive_data(b"+CREG: 0,5\r\n+CGREG: 0,5\r\n+CEREG: 1\r\nOK\r\n")
    assert events_of(session) == [
        UnsolicitedResult("+CEREG", "+CEREG: 1", None),
        CommandCompleted(query, ("+CREG: 0,5", "+CGREG: 0,5"), "OK"),
    ]


def test_ignored_vendor_noise_is_reported_but_never_disturbs_a_command() -> None:
    session = AtSession(ignored_urc_prefixes=["^RSSI", "^BOOT:", "+QIND"])
    command = AtCommand("AT+CGMI")
    session.send(command, 0.0)
    # Huawei E3372 with ^CURC=1 sprays ^RSSI/^BOOT between any two lines (lesson 3).
    session.receive_data(
        b"\r\n^RSSI:14\r\nhuawei\r\n^BOOT:20386046,0,0,0,72\r\n+QIND: SMS DONE\r\n\r\nOK\r\n"
    )
    assert events_of(session) == [
        UnsolicitedResult("^RSSI", "^RSSI:14", None, ignored=True),
        UnsolicitedResult("^BOOT", "^BOOT:20386046,0,0,0,72", None, ignored=True),
        UnsolicitedResult("+QIND", "+QIND: SMS DONE", None, ignored=True),
        CommandCompleted(command, ("huawei",), "OK"),
    ]


def test_an_unknown_vendor_caret_line_is_kept_out_of_responses_unless_asked_for() -> None:
    session = AtSession()
    info = AtCommand("AT^SYSINFO")
    session.send(info, 0.0)
    session.receive_data(b"^NEWTHING: 3\r\n^SYSINFO: 2,3,0,5,1,,4\r\nOK\r\n")
    assert events_of(session) == [
        UnknownLine("^NEWTHING: 3"),
        CommandCompleted(info, ("^SYSINFO: 2,3,0,5,1,,4",), "OK"),
    ]


def test_extra_urc_prefixes_from_the_profile_are_routed_as_urcs() -> None:
    session = AtSession(extra_urc_prefixes=["+QNEWURC"])
    command = AtCommand("AT+CSQ")
    session.send(command, 0.0)
    session.receive_data(b"+QNEWURC: 1\r\n+CSQ: 9,99\r\nOK\r\n")
    assert events_of(session) == [
        UnsolicitedResult("+QNEWURC", "+QNEWURC: 1", None),
        CommandCompleted(command, ("+CSQ: 9,99",), "OK"),
    ]


def test_a_two_line_cmt_takes_the_next_line_as_its_pdu_even_mid_command() -> None:
    session = AtSession()
    command = AtCommand("AT+CPMS?")
    session.send(command, 0.0)
    session.receive_data(
        b'+CPMS: "SM",0,30,"SM",0,30,"SM",0,30\r\n'
        b"+CMT: ,30\r\n" + PDU.encode() + b"\r\n"  # CNMI=2,2: delivered directly (TS 27.005 §3.4.1)
        b"\r\nOK\r\n"
        b"+CDS: 25\r\n07911326040000F006270B911346610089F6208062917314082080629173140800\r\n"
    )
    assert events_of(session) == [
        UnsolicitedResult("+CMT", "+CMT: ,30", PDU),
        CommandCompleted(command, ('+CPMS: "SM",0,30,"SM",0,30,"SM",0,30',), "OK"),
        UnsolicitedResult(
            "+CDS", "+CDS: 25", "07911326040000F006270B911346610089F6208062917314082080629173140800"
        ),
    ]


def test_a_two_line_urc_whose_second_line_is_not_a_pdu_is_reported_bare() -> None:
    session = AtSession()
    session.receive_data(b'+CMT: "+31641600986",,"20/08/26,19:37:41+08"\r\nHello\r\nRING\r\n')
    assert events_of(session) == [
        UnsolicitedResult("+CMT", '+CMT: "+31641600986",,"20/08/26,19:37:41+08"', None),
        UnknownLine("Hello"),
        UnsolicitedResult("RING", "RING", None),
    ]


def test_a_text_mode_cds_is_one_line() -> None:
    session = AtSession()
    session.receive_data(b'+CDS: 6,12,"+31641600986",145,"20/08/26,19:37:41+08","20/08/26,19:37:42+08",0\r\n')
    (event,) = events_of(session)
    assert isinstance(event, UnsolicitedResult) and event.name == "+CDS" and event.pdu is None


def test_the_prompt_releases_payload_and_ctrl_z_and_the_echo_is_dropped() -> None:
    session = AtSession()
    payload = "0011000B914407485476F70000AA05E8329BFD06"
    command = AtCommand("AT+CMGS=19", timeout_s=60.0, payload=payload)
    session.send(command, 0.0)
    assert session.data_to_send() == b"AT+CMGS=19\r"
    session.receive_data(b"AT+CMGS=19\r\r\n>")
    assert session.data_to_send() == b""  # ">" alone is not yet the prompt
    session.receive_data(b" ")
    assert session.data_to_send() == payload.encode() + b"\x1a"
    session.receive_data(payload.encode() + b"\x1a\r\n+CMGS: 47\r\n\r\nOK\r\n")  # SIM800 echoes it all
    assert events_of(session) == [CommandCompleted(command, ("+CMGS: 47",), "OK")]


def test_the_payload_is_sent_once_even_if_a_second_prompt_comes() -> None:
    session = AtSession()
    command = AtCommand("AT+CMGS=19", payload="00")
    session.send(command, 0.0)
    session.receive_data(b"\r\n> \r\n> ")
    assert session.data_to_send() == b"AT+CMGS=19\r00\x1a"
    assert events_of(session) == [UnknownLine(">")]


def test_a_prompt_outside_a_payload_command_is_an_unknown_line() -> None:
    session = AtSession()
    session.receive_data(b"\r\n> ")
    assert events_of(session) == [UnknownLine(">")]
    assert session.data_to_send() == b""


def test_cms_error_500_fails_the_command_with_its_number() -> None:
    session = AtSession()
    command = AtCommand("AT+CMGS=19", payload="00")
    session.send(command, 0.0)
    session.receive_data(b"\r\n> ")
    session.receive_data(b"\r\n+CMS ERROR: 500\r\n")
    assert events_of(session) == [CommandFailed(command, (), "+CMS ERROR: 500", cme=None, cms=500)]


@pytest.mark.parametrize(
    ("final", "cme", "cms"),
    [
        (b"ERROR", None, None),
        (b"+CME ERROR: 10", 10, None),
        (b"+CME ERROR: SIM not inserted", 10, None),  # AT+CMEE=2 (EC25, SIM800)
        (b"+CME ERROR: something vendor", None, None),
        (b"+CMS ERROR: 321", None, 321),
        (b"+CMS ERROR: Invalid memory index", None, 321),
        (b"NO CARRIER", None, None),
    ],
)
def test_error_finals(final: bytes, cme: int | None, cms: int | None) -> None:
    session = AtSession()
    command = AtCommand("AT+CMGR=9")
    session.send(command, 0.0)
    session.receive_data(b"\r\n" + final + b"\r\n")
    assert events_of(session) == [CommandFailed(command, (), final.decode(), cme=cme, cms=cms)]


def test_vendor_finals_from_the_profile() -> None:
    session = AtSession(
        extra_final_ok=["SEND OK"], extra_final_error=["COMMAND NOT SUPPORT", "+CUSTOM FAIL:"]
    )
    first, second, third = AtCommand("AT+CIPSEND"), AtCommand("AT^NOPE"), AtCommand("AT+X")
    session.send(first, 0.0)
    session.receive_data(b"SEND OK\r\n")
    session.send(second, 0.0)
    session.receive_data(b"COMMAND NOT SUPPORT\r\n")
    session.send(third, 0.0)
    session.receive_data(b"+CUSTOM FAIL: 7\r\n")
    assert events_of(session) == [
        CommandCompleted(first, (), "SEND OK"),
        CommandFailed(second, (), "COMMAND NOT SUPPORT", cme=None, cms=None),
        CommandFailed(third, (), "+CUSTOM FAIL: 7", cme=None, cms=None),
    ]


def test_garbage_then_resync() -> None:
    session = AtSession()
    command = AtCommand("AT")
    session.send(command, 0.0)
    session.receive_data(b"\xff\xff\xfe\r\x00\xffOK\r\n")
    assert events_of(session) == [
        GarbageDiscarded(b"\xff\xff\xfe"),
        GarbageDiscarded(b"\x00\xff"),
        CommandCompleted(command, (), "OK"),
    ]


def test_lines_outside_any_command() -> None:
    session = AtSession()
    # SIM800 power-on URCs (SIM800 Series AT Command Manual V1.09, "Summary of Unsolicited Result Codes").
    session.receive_data(
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\nCall Ready\r\nSMS Ready\r\nhello\r\nOK\r\n"
    )
    assert events_of(session) == [
        UnsolicitedResult("RDY", "RDY", None),
        UnsolicitedResult("+CFUN", "+CFUN: 1", None),
        UnsolicitedResult("+CPIN", "+CPIN: READY", None),
        UnsolicitedResult("Call Ready", "Call Ready", None),
        UnsolicitedResult("SMS Ready", "SMS Ready", None),
        UnknownLine("hello"),
        UnknownLine("OK"),
    ]


def test_sending_while_a_command_is_in_flight_is_a_local_error() -> None:
    session = AtSession()
    session.send(AtCommand("AT+CSQ"), 0.0)
    with pytest.raises(LocalProtocolError, match=r"'AT\+CREG\?'.*'AT\+CSQ' is still in flight"):
        session.send(AtCommand("AT+CREG?"), 0.0)


@pytest.mark.parametrize(
    "command",
    [
        AtCommand("CSQ"),
        AtCommand("AT+CSQ\r"),
        AtCommand("AT+COPS=1,0,\"Telefónica\""),
        AtCommand("AT+CMGS=3", payload="00\x1a"),
        AtCommand("AT", timeout_s=0),
    ],
)
def test_malformed_commands_are_refused_with_the_command_named(command: AtCommand) -> None:
    with pytest.raises(LocalProtocolError, match="command"):
        AtSession().send(command, 0.0)


# -- timeouts and late answers -------------------------------------------------------------------------
def test_handle_timer_before_the_deadline_does_nothing() -> None:
    session = AtSession()
    session.send(AtCommand("AT+CSQ", timeout_s=3.0), now=10.0)
    session.handle_timer(12.9)
    assert events_of(session) == []
    assert session.timer() == 13.0


def test_a_timeout_reports_the_partial_lines_and_frees_the_session() -> None:
    session = AtSession()
    command = AtCommand("AT+CMGL=4", timeout_s=3.0)
    session.send(command, now=10.0)
    session.receive_data(b"+CMGL: 1,1,,30\r\n")  # Huawei CMGL hang (lesson 2): no more bytes
    session.handle_timer(13.0)
    assert events_of(session) == [CommandTimedOut(command, ("+CMGL: 1,1,,30",))]
    assert session.in_flight is None


def test_a_late_answer_after_a_timeout_never_completes_the_next_command() -> None:
    session = AtSession(late_response_grace_s=2.0)
    slow, following = AtCommand("AT+COPS=?", timeout_s=3.0), AtCommand("AT+CSQ")
    session.send(slow, now=0.0)
    session.data_to_send()
    session.handle_timer(3.0)
    assert session.timer() == 5.0  # the drain's grace end
    session.send(following, now=3.5)
    assert session.in_flight == following
    assert session.data_to_send() == b""  # held until the late answer is drained
    session.receive_data(b'+COPS: (2,"Vodafone UK","voda UK","23415",7)\r\n\r\nOK\r\n')
    assert session.data_to_send() == b"AT+CSQ\r"
    session.receive_data(b"+CSQ: 18,99\r\n\r\nOK\r\n")
    assert events_of(session) == [
        CommandTimedOut(slow, ()),
        StaleResponseDiscarded(slow, ('+COPS: (2,"Vodafone UK","voda UK","23415",7)',), "OK"),
        CommandCompleted(following, ("+CSQ: 18,99",), "OK"),
    ]


def test_the_grace_deadline_releases_a_held_command_when_no_late_answer_comes() -> None:
    session = AtSession(late_response_grace_s=2.0)
    hung, probe = AtCommand("AT+CMGL=4", timeout_s=1.0), AtCommand("AT", timeout_s=1.0)
    session.send(hung, 0.0)
    session.data_to_send()
    session.handle_timer(1.0)
    session.send(probe, now=1.5)
    assert session.timer() == 3.0
    session.handle_timer(2.9)
    assert session.data_to_send() == b""
    session.handle_timer(3.0)
    assert session.data_to_send() == b"AT\r"
    assert session.timer() == 4.0  # the probe's deadline counts from the release at the latest
    session.receive_data(b"OK\r\n")
    assert events_of(session) == [
        CommandTimedOut(hung, ()),
        StaleResponseDiscarded(hung, (), None),
        CommandCompleted(probe, (), "OK"),
    ]


def test_urcs_during_a_drain_are_still_urcs() -> None:
    session = AtSession()
    slow = AtCommand("AT+CMGL=4", timeout_s=1.0)
    session.send(slow, 0.0)
    session.handle_timer(1.0)
    session.receive_data(b'+CMTI: "SM",4\r\n+CMGL: 4,0,,30\r\n')
    assert events_of(session)[1:] == [UnsolicitedResult("+CMTI", '+CMTI: "SM",4', None)]


def test_a_timed_out_send_is_cancelled_with_esc_and_its_late_prompt_too() -> None:
    session = AtSession()
    command = AtCommand("AT+CMGS=19", timeout_s=1.0, payload="00")
    session.send(command, 0.0)
    session.data_to_send()
    session.handle_timer(1.0)
    assert session.data_to_send() == b"\x1b"  # TS 27.005 §3.5.1: ESC aborts text entry
    session.receive_data(b"\r\n> ")
    assert session.data_to_send() == b"\x1b"  # never feed a stale prompt with the next command
    session.receive_data(b"\r\nOK\r\n")
    assert events_of(session) == [CommandTimedOut(command, ()), StaleResponseDiscarded(command, (), "OK")]


def test_without_grace_the_next_command_goes_out_at_once() -> None:
    session = AtSession(late_response_grace_s=0.0)
    first, second = AtCommand("AT", timeout_s=1.0), AtCommand("AT+CSQ")
    session.send(first, 0.0)
    session.handle_timer(1.0)
    session.data_to_send()
    session.send(second, 1.0)
    assert session.data_to_send() == b"AT+CSQ\r"
