"""Cross-check: AtSession and the parsers against the project's FakeModem, fed one byte at a time.

The fake is written independently from the SIM800 manual, so agreement here is evidence both read it alike.
"""

from __future__ import annotations

from gatewayd.at import commands as at
from gatewayd.at.session import AtCommand, AtSession, CommandCompleted, Event, UnsolicitedResult
from gatewayd.fakemodem.identity import ModemIdentity
from gatewayd.fakemodem.modem import FakeModem


class Wire:
    """Session ↔ modem over a byte-at-a-time link; the test's clock only moves when told."""

    def __init__(self, modem: FakeModem) -> None:
        self.modem = modem
        self.session = AtSession()
        self.urcs: list[UnsolicitedResult] = []

    def pump(self) -> None:
        for _ in range(100):
            to_modem = self.session.data_to_send()
            for byte in to_modem:
                self.modem.receive_data(bytes([byte]))
            from_modem = self.modem.data_to_send()
            for byte in from_modem:
                self.session.receive_data(bytes([byte]))
            if not to_modem and not from_modem:
                return
        raise AssertionError("the link never went quiet")

    def run(self, command: AtCommand) -> CommandCompleted:
        self.session.send(command, now=0.0)
        self.pump()
        result: Event | None = None
        while (event := self.session.next_event()) is not None:
            if isinstance(event, UnsolicitedResult):
                self.urcs.append(event)
            else:
                result = event
        assert isinstance(result, CommandCompleted), result
        return result


def test_identify_store_list_delete_and_send_against_the_fake_modem() -> None:
    identity = ModemIdentity.for_index(3)
    wire = Wire(FakeModem(identity, echo=True))
    assert at.parse_text_response(wire.run(AtCommand("AT+CGMI")).lines).value == identity.manufacturer
    assert at.parse_imei(wire.run(AtCommand("AT+CGSN")).lines).value == identity.imei
    assert at.parse_iccid(wire.run(AtCommand("AT+CCID")).lines).value == identity.iccid
    assert at.parse_imsi(wire.run(AtCommand("AT+CIMI")).lines).value == identity.imsi
    wire.run(at.build_cmgf_pdu())
    wire.run(at.build_cpms("SM", "SM", "SM"))
    wire.run(at.build_cnmi())

    stored = wire.modem.inject_sms("+447700900123", "hello from the network")
    wire.pump()
    while (event := wire.session.next_event()) is not None:
        assert isinstance(event, UnsolicitedResult)
        wire.urcs.append(event)
    assert [at.parse_cmti(urc.line).index for urc in wire.urcs if urc.name == "+CMTI"] == stored

    listed = at.parse_cmgl(wire.run(at.build_cmgl()).lines)
    assert [message.index for message in listed] == stored
    assert all(message.length_matches for message in listed)
    assert at.parse_cpms(wire.run(AtCommand("AT+CPMS?")).lines).receive.used == len(stored)
    for index in stored:
        wire.run(at.build_cmgd(index))
    assert wire.modem.storage_used == 0

    submit = at.build_cmgs("0011000B914407485476F70000AA05E8329BFD06")
    result = at.parse_cmgs(wire.run(submit).lines)
    assert [sent.mr for sent in wire.modem.submitted] == [result.mr]
