"""FakeModem at the byte level: framing, echo, the command table, SMS storage commands, CMGS, faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.clock import ManualClock
from gatewayd.fakemodem.commands import tpdu_length
from gatewayd.fakemodem.dialect import HUAWEI_E3372, QUECTEL_EC25, ModemFaults
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem
from gatewayd.fakemodem.storage import MessageStatus
from gatewayd.sms.pdu import decode_status_report, encode_submit

# TS 23.040 SMS-DELIVER from +31641600986, "How are you?", with SMSC +31624000000 (30-octet TPDU).
HOW_ARE_YOU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
# SMS-SUBMIT to +46708251358, "hellohello", SMSC from the SIM ("00"), 23-octet TPDU.
SUBMIT_HELLO = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"


def deliver_pdu(n: int) -> str:
    """Distinct stored PDUs (the last user-data octet varies); storage never decodes them."""
    return HOW_ARE_YOU[:-2] + f"{n % 256:02X}"


def make_modem(**options: object) -> FakeModem:
    return FakeModem(ModemIdentity.for_index(7), clock=ManualClock().now, **options)  # type: ignore[arg-type]


def talk(modem: FakeModem, command: str) -> bytes:
    modem.receive_data(command.encode("latin-1") + b"\r")
    return modem.data_to_send()


@pytest.fixture
def modem() -> Iterator[FakeModem]:
    """Echo off, CNMI asking for +CMTI: how the daemon configures a modem."""
    fake = make_modem()
    fake.receive_data(b"ATE0\rAT+CNMI=2,1,0,0,0\r")
    assert fake.data_to_send() == b"ATE0\r\r\nOK\r\n\r\nOK\r\n"
    yield fake


IDENTITY = ModemIdentity.for_index(7)


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("AT", "\r\nOK\r\n"),
        ("at", "\r\nOK\r\n"),
        ("AT+CGMI", f"\r\n{IDENTITY.manufacturer}\r\n\r\nOK\r\n"),
        ("AT+CGMM", f"\r\n{IDENTITY.model}\r\n\r\nOK\r\n"),
        ("AT+CGMR", f"\r\n{IDENTITY.revision}\r\n\r\nOK\r\n"),
        ("AT+CGSN", f"\r\n{IDENTITY.imei}\r\n\r\nOK\r\n"),
        ("AT+CIMI", f"\r\n{IDENTITY.imsi}\r\n\r\nOK\r\n"),
        ("AT+CCID", f"\r\n+CCID: {IDENTITY.iccid}\r\n\r\nOK\r\n"),
        ("AT+CNUM", f'\r\n+CNUM: "","{IDENTITY.phone_number}",145\r\n\r\nOK\r\n'),
        ("AT+CSQ", "\r\n+CSQ: 20,0\r\n\r\nOK\r\n"),
        ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        ("AT+CREG=2;+CREG?", '\r\n+CREG: 2,1,"1A2B","01C3"\r\n\r\nOK\r\n'),
        ("AT+COPS?", f'\r\n+COPS: 0,0,"{IDENTITY.operator}"\r\n\r\nOK\r\n'),
        ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        ("AT+CSCA?", '\r\n+CSCA: "+491710760000",145\r\n\r\nOK\r\n'),
        ("AT+CFUN?", "\r\n+CFUN: 1\r\n\r\nOK\r\n"),
        ("AT+CMGF=0;+CMGF?", "\r\n+CMGF: 0\r\n\r\nOK\r\n"),
        ("AT+CNMI?", "\r\n+CNMI: 2,1,0,0,0\r\n\r\nOK\r\n"),
        ('AT+CPMS="SM","SM","SM"', "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n"),
        ("AT+CPMS?", '\r\n+CPMS: "SM",0,30,"SM",0,30,"SM",0,30\r\n\r\nOK\r\n'),
        ("AT+CPMS=?", '\r\n+CPMS: ("SM"),("SM"),("SM")\r\n\r\nOK\r\n'),
        ('AT+CPMS="ME"', "\r\n+CMS ERROR: 302\r\n"),
        ("AT+CMGL=?", "\r\nOK\r\n"),
        ("AT+CMEE=1;+CMEE?", "\r\n+CMEE: 1\r\n\r\nOK\r\n"),
        ("AT+NOPE", "\r\nERROR\r\n"),
        ("AT+CMEE=1;+NOPE", "\r\n+CME ERROR: 100\r\n"),
        ("AT+CMEE=2;+NOPE", "\r\n+CME ERROR: unknown\r\n"),
        ("AT+CMEE=1;+CMGL=9", "\r\n+CME ERROR: 50\r\n"),
        ("AT+CGSN;+CIMI", f"\r\n{IDENTITY.imei}\r\n\r\n{IDENTITY.imsi}\r\n\r\nOK\r\n"),
        ("AT+CGSN;+NOPE;+CIMI", f"\r\n{IDENTITY.imei}\r\n\r\nERROR\r\n"),
        ("ATI", f"\r\n{IDENTITY.model}\r\n{IDENTITY.revision}\r\n\r\nOK\r\n"),
        ("ATE0V1", "\r\nOK\r\n"),
        ("ATV0", "\r\nERROR\r\n"),
        ("AT@", "\r\nERROR\r\n"),
        ("garbage\x00\xffAT", "\r\nOK\r\n"),
        ("no prefix here", ""),
        ("", ""),
    ],
)
def test_command_table(modem: FakeModem, command: str, answer: str) -> None:
    assert talk(modem, command) == answer.encode("latin-1")


def test_echo_repeats_each_byte_before_the_answer_and_ate0_stops_it() -> None:
    fake = make_modem()
    fake.receive_data(b"AT+CSQ\r")
    assert fake.data_to_send() == b"AT+CSQ\r\r\n+CSQ: 20,0\r\n\r\nOK\r\n"
    fake.receive_data(b"AT")
    assert fake.data_to_send() == b"AT"  # echoed as typed, before the terminator arrives
    fake.receive_data(b"E0\r")
    assert fake.data_to_send() == b"E0\r\r\nOK\r\n"
    assert talk(fake, "AT") == b"\r\nOK\r\n"


def test_atz_restores_the_configured_echo_and_defaults() -> None:
    fake = make_modem(echo=False)
    assert talk(fake, "ATE1;+CMEE=2") == b"\r\nOK\r\n"
    assert talk(fake, "AT+NOPE") == b"AT+NOPE\r\r\n+CME ERROR: unknown\r\n"
    assert talk(fake, "ATZ") == b"ATZ\r\r\nOK\r\n"
    assert talk(fake, "AT+NOPE") == b"\r\nERROR\r\n"


def test_backspace_edits_the_line_and_an_overlong_line_answers_error(modem: FakeModem) -> None:
    assert talk(modem, "AT+CSX\x08Q") == b"\r\n+CSQ: 20,0\r\n\r\nOK\r\n"
    assert talk(modem, "AT" + "A" * 600) == b"\r\nERROR\r\n"
    assert talk(modem, "AT") == b"\r\nOK\r\n"


SESSION = (
    b"ATE1\rAT+CMEE=1\r\nAT+CNMI=2,1,0,0,0\rAT+CMGL=4\rAT+CMGR=1\rAT+CMGD=1\r"
    b"AT+CMGS=23\r" + SUBMIT_HELLO.encode() + b"\x1aAT+NOPE\rAT+CSQ\r"
)


def run_session(chunks: list[bytes]) -> bytes:
    fake = make_modem()
    fake.deliver_pdus([HOW_ARE_YOU])
    output = fake.data_to_send()
    for chunk in chunks:
        fake.receive_data(chunk)
        output += fake.data_to_send()
    return output


@given(st.lists(st.integers(min_value=1, max_value=len(SESSION)), max_size=30))
def test_any_chunking_of_the_same_bytes_gives_the_same_output(cuts: list[int]) -> None:
    points = sorted({0, len(SESSION), *cuts})
    chunks = [SESSION[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert run_session(chunks) == run_session([SESSION])


def test_cmgl_lists_with_tpdu_length_and_marks_read(modem: FakeModem) -> None:
    assert modem.deliver_pdus([HOW_ARE_YOU, deliver_pdu(1)]) == [1, 2]
    assert modem.data_to_send() == b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    listing = f"\r\n+CMGL: 1,0,,30\r\n{HOW_ARE_YOU}\r\n+CMGL: 2,0,,30\r\n{deliver_pdu(1)}\r\n\r\nOK\r\n"
    assert talk(modem, "AT+CMGL=0") == listing.encode()
    assert talk(modem, "AT+CMGL=0") == b"\r\nOK\r\n"
    assert talk(modem, "AT+CMGL=1").count(b"+CMGL: ") == 2
    assert talk(modem, "AT+CMGL=4").startswith(b"\r\n+CMGL: 1,1,,30\r\n")
    assert talk(modem, "AT+CMGL=2") == b"\r\nOK\r\n"
    assert [m.status for m in modem.storage] == [MessageStatus.RECEIVED_READ] * 2


def test_cmgl_without_argument_lists_unread_only(modem: FakeModem) -> None:
    modem.deliver_pdus([HOW_ARE_YOU, deliver_pdu(1)])
    talk(modem, "AT+CMGR=2")
    assert talk(modem, "AT+CMGL") == f"\r\n+CMGL: 1,0,,30\r\n{HOW_ARE_YOU}\r\n\r\nOK\r\n".encode()


def test_cmgr_shows_the_status_before_reading_then_read(modem: FakeModem) -> None:
    modem.deliver_pdus([HOW_ARE_YOU])
    modem.data_to_send()
    assert talk(modem, "AT+CMGR=1") == f"\r\n+CMGR: 0,,30\r\n{HOW_ARE_YOU}\r\n\r\nOK\r\n".encode()
    assert talk(modem, "AT+CMGR=1") == f"\r\n+CMGR: 1,,30\r\n{HOW_ARE_YOU}\r\n\r\nOK\r\n".encode()


def test_cmgr_of_an_empty_or_out_of_range_index(modem: FakeModem) -> None:
    assert talk(modem, "AT+CMGR=5") == b"\r\nOK\r\n"
    assert talk(modem, "AT+CMGR=31") == b"\r\n+CMS ERROR: 321\r\n"
    assert talk(modem, "AT+CMGR=0") == b"\r\n+CMS ERROR: 321\r\n"


def test_huawei_dialect_numbers_from_zero_and_refuses_empty_reads() -> None:
    fake = make_modem(dialect=HUAWEI_E3372, echo=False)
    assert fake.deliver_pdus([HOW_ARE_YOU]) == [0]
    assert talk(fake, "AT+CMGR=1") == b"\r\n+CMS ERROR: 321\r\n"
    assert talk(fake, "AT^ICCID?") == f"\r\n^ICCID: {fake.identity.iccid}\r\n\r\nOK\r\n".encode()
    assert talk(fake, "AT+CCID") == b"\r\nERROR\r\n"
    assert fake.emit_noise()
    assert fake.data_to_send() == b"\r\n^RSSI: 17\r\n"


def test_quectel_dialect_answers_qccid() -> None:
    fake = make_modem(dialect=QUECTEL_EC25, echo=False)
    assert talk(fake, "AT+QCCID") == f"\r\n+QCCID: {fake.identity.iccid}\r\n\r\nOK\r\n".encode()


def test_cmgd_by_index_and_by_flag(modem: FakeModem) -> None:
    modem.deliver_pdus([deliver_pdu(n) for n in range(4)])
    talk(modem, "AT+CMGR=1")
    talk(modem, "AT+CMGR=2")
    assert talk(modem, "AT+CMGD=3") == b"\r\nOK\r\n"
    assert talk(modem, "AT+CMGD=3") == b"\r\nOK\r\n"  # an empty slot in range is not an error
    assert talk(modem, "AT+CMGD=31") == b"\r\n+CMS ERROR: 321\r\n"
    assert [m.index for m in modem.storage] == [1, 2, 4]
    assert talk(modem, "AT+CMGD=1,1") == b"\r\nOK\r\n"  # all read ones, index ignored
    assert [(m.index, m.status) for m in modem.storage] == [(4, MessageStatus.RECEIVED_UNREAD)]
    assert talk(modem, "AT+CMGD=0,4") == b"\r\nOK\r\n"
    assert modem.storage == ()


def test_storage_full_holds_parts_in_the_network_until_slots_free(modem: FakeModem) -> None:
    small = make_modem(storage_size=3, echo=False)
    small.receive_data(b"AT+CNMI=2,1,0,0,0\r")
    small.data_to_send()
    assert small.deliver_pdus([deliver_pdu(n) for n in range(5)]) == [1, 2, 3]
    assert small.held_by_network == 2
    assert small.data_to_send().count(b"+CMTI") == 3
    assert talk(small, 'AT+CPMS="SM"') == b"\r\n+CPMS: 3,3,3,3,3,3\r\n\r\nOK\r\n"
    # The freed slot is refilled by the oldest held part, announced after the command's OK.
    assert talk(small, "AT+CMGD=2") == b'\r\nOK\r\n\r\n+CMTI: "SM",2\r\n'
    assert small.storage[1].pdu == deliver_pdu(3)
    assert talk(small, "AT+CMGD=1,4") == b'\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'
    assert small.held_by_network == 0
    assert [m.pdu for m in small.storage] == [deliver_pdu(4)]
    # A newcomer waits behind held parts, never overtakes them.
    assert small.deliver_pdus([deliver_pdu(9)]) == [2]


def test_cnmi_mt_0_stores_silently_and_mt_2_routes_directly(modem: FakeModem) -> None:
    talk(modem, "AT+CNMI=2,0,0,0,0")
    assert modem.deliver_pdus([HOW_ARE_YOU]) == [1]
    assert modem.data_to_send() == b""
    talk(modem, "AT+CNMI=2,2,0,0,0")
    assert modem.deliver_pdus([HOW_ARE_YOU]) == []
    assert modem.data_to_send() == f"\r\n+CMT: ,30\r\n{HOW_ARE_YOU}\r\n".encode()
    assert modem.storage_used == 1


def test_cmgs_prompt_echo_and_incrementing_message_reference() -> None:
    fake = make_modem()
    fake.receive_data(b"AT+CMGS=23\r")
    assert fake.data_to_send() == b"AT+CMGS=23\r\r\n> "
    assert fake.in_pdu_entry
    fake.receive_data(SUBMIT_HELLO.lower().encode() + b"\x1a")
    assert fake.data_to_send() == SUBMIT_HELLO.lower().encode() + b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    fake.receive_data(b"AT+CMGS=23\r" + SUBMIT_HELLO.encode() + b"\x1a")
    assert fake.data_to_send().endswith(b"\r\n+CMGS: 1\r\n\r\nOK\r\n")
    assert [(s.mr, s.pdu) for s in fake.submitted] == [(0, SUBMIT_HELLO), (1, SUBMIT_HELLO)]


def test_cmgs_escape_cancels_and_bad_pdus_are_refused(modem: FakeModem) -> None:
    assert talk(modem, "AT+CMGS=23") == b"\r\n> "
    modem.receive_data(SUBMIT_HELLO[:10].encode() + b"\x1b")
    assert modem.data_to_send() == b"\r\nOK\r\n"
    assert not modem.in_pdu_entry
    for pdu, length in [(SUBMIT_HELLO, 22), (SUBMIT_HELLO + "Z0", 24), (HOW_ARE_YOU, 30), ("00", 1)]:
        modem.receive_data(f"AT+CMGS={length}\r{pdu}\x1a".encode())
        assert modem.data_to_send() == b"\r\n> \r\n+CMS ERROR: 304\r\n", pdu
    assert talk(modem, "AT+CMGS=0") == b"\r\nERROR\r\n"
    assert modem.submitted == ()


def test_urcs_wait_while_a_pdu_is_being_typed(modem: FakeModem) -> None:
    assert talk(modem, "AT+CMGS=23") == b"\r\n> "
    assert modem.deliver_pdus([HOW_ARE_YOU]) == [1]
    assert modem.data_to_send() == b""
    modem.receive_data(SUBMIT_HELLO.encode() + b"\x1a")
    assert modem.data_to_send() == b'\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'


def test_text_mode_is_refused_for_sms_commands(modem: FakeModem) -> None:
    assert talk(modem, "AT+CMGF=1") == b"\r\nOK\r\n"
    assert talk(modem, "AT+CMGL=4") == b"\r\n+CMS ERROR: 302\r\n"
    assert talk(modem, "AT+CMGS=23") == b"\r\n+CMS ERROR: 302\r\n"


def test_cfun_minimum_deregisters_and_blocks_sending(modem: FakeModem) -> None:
    assert talk(modem, "AT+CFUN=0;+CREG?;+COPS?") == b"\r\n+CREG: 0,0\r\n\r\n+COPS: 0\r\n\r\nOK\r\n"
    assert talk(modem, "AT+CMGS=23") == b"\r\n+CMS ERROR: 331\r\n"
    assert talk(modem, "AT+CFUN=1;+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"


def test_cfun_reset_answers_ok_then_reboots_keeping_the_sim(modem: FakeModem) -> None:
    modem.deliver_pdus([HOW_ARE_YOU])
    modem.data_to_send()
    boot = b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"
    assert talk(modem, "AT+CFUN=1,1") == b"\r\nOK\r\n" + boot
    assert modem.settings.echo  # back to the power-on default
    assert modem.storage_used == 1


def test_mute_modem_swallows_everything() -> None:
    fake = make_modem()
    fake.faults = ModemFaults(mute=True)
    fake.receive_data(b"AT\r")
    fake.deliver_pdus([HOW_ARE_YOU])
    assert fake.data_to_send() == b""
    fake.faults = ModemFaults()
    assert talk(fake, "AT") == b"AT\r\r\nOK\r\n"


def test_garbage_and_forced_cms_errors(modem: FakeModem) -> None:
    modem.faults = ModemFaults(garbage_before_reply=b"\xff\x00", command_errors={"+CMGL": 500})
    assert talk(modem, "AT+CSQ") == b"\xff\x00\r\n+CSQ: 20,0\r\n\xff\x00\r\nOK\r\n"
    assert talk(modem, "AT+CMGL=4") == b"\xff\x00\r\n+CMS ERROR: 500\r\n"


def test_status_report_follows_a_submit_that_asked_for_one(modem: FakeModem) -> None:
    wants = encode_submit("+46708251358", "report me", concat_reference=0, status_report=True)[0]
    silent = encode_submit("+46708251358", "no report", concat_reference=0, status_report=False)[0]
    for part in (wants, silent):
        modem.receive_data(f"AT+CMGS={part.tpdu_length}\r{part.pdu_hex}\x1a".encode())
    modem.data_to_send()
    assert not modem.report_delivery(0)  # AT+CNMI ds=0: the report is not routed to the port
    talk(modem, "AT+CNMI=2,1,0,1,0")
    assert not modem.report_delivery(1)  # TP-SRR unset: the SC sends none
    assert modem.report_delivery(0, status=0x30)
    head, pdu, tail = modem.data_to_send().split(b"\r\n")[1:4]
    report = decode_status_report(pdu.decode())
    assert head == f"+CDS: {tpdu_length(pdu.decode())}".encode() and tail == b""
    assert (report.message_reference, report.recipient, report.status) == (0, "+46708251358", 0x30)
    with pytest.raises(LookupError, match="TP-MR 9"):
        modem.report_delivery(9)
