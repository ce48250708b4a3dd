"""Any chunking of the same byte stream gives the same events and the same bytes to write."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.at.session import AtCommand, AtSession, Event

PDU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"

COMMANDS = [
    AtCommand("AT+CSQ"),
    AtCommand("AT+CREG?"),
    AtCommand("AT+CMGL=4"),
    AtCommand("AT+CMGS=19", payload="0011000B914407485476F70000AA05E8329BFD06"),
]
FRAGMENTS = [
    b"\r\n",
    b"\r",
    b"AT+CSQ\r",
    b"AT+CMGL=4\r",
    b"+CSQ: 21,99\r\n",
    b"+CREG: 0,1\r\n",
    b"+CREG: 1\r\n",
    b"+CMGL: 1,1,,30\r\n" + PDU.encode() + b"\r\n",
    b'+CMTI: "SM",2\r\n',
    b"+CMT: ,30\r\n" + PDU.encode() + b"\r\n",
    b"^RSSI:14\r\n",
    b"^NEWTHING: 3\r\n",
    b"\r\n> ",
    b"0011000B914407485476F70000AA05E8329BFD06\x1a",
    b"\xff\xfe",
    b"\x00",
    b"RING\r\n",
    b"hello\r\n",
]
FINALS = [b"OK\r\n", b"ERROR\r\n", b"+CMS ERROR: 500\r\n", b"+CME ERROR: 10\r\n", None]


@dataclass(frozen=True)
class Exchange:
    command: AtCommand
    output: bytes  # what the modem says after the command goes out
    times_out: bool


exchanges = st.builds(
    lambda command, body, final: Exchange(command, b"".join(body) + (final or b""), final is None),
    st.sampled_from(COMMANDS),
    st.lists(st.sampled_from(FRAGMENTS), max_size=8),
    st.sampled_from(FINALS),
)


def run(script: list[Exchange], cuts: list[int] | None) -> tuple[list[Event], bytes]:
    session = AtSession(ignored_urc_prefixes=["^RSSI"], late_response_grace_s=1.0)
    events: list[Event] = []
    written = bytearray()
    now = 0.0
    for step in script:
        if session.in_flight is None:
            session.send(step.command, now)
        written += session.data_to_send()
        for chunk in chunked(step.output, cuts):
            session.receive_data(chunk)
            written += session.data_to_send()
        if step.times_out:
            deadline = session.timer()
            now = deadline if deadline is not None else now
            session.handle_timer(now)
            written += session.data_to_send()
        while (event := session.next_event()) is not None:
            events.append(event)
    return events, bytes(written)


def chunked(data: bytes, cuts: list[int] | None) -> list[bytes]:
    if cuts is None:
        return [data]
    bounds = [0, *sorted({cut % (len(data) + 1) for cut in cuts}), len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300)
@given(script=st.lists(exchanges, min_size=1, max_size=6), cuts=st.lists(st.integers(0, 2000), max_size=30))
def test_any_chunking_gives_the_same_events(script: list[Exchange], cuts: list[int]) -> None:
    assert run(script, cuts) == run(script, None)


def test_reads_split_at_every_byte_give_the_same_events() -> None:
    script = [
        Exchange(COMMANDS[2], b"".join(FRAGMENTS[3:12]) + b"OK\r\n", times_out=False),
        Exchange(COMMANDS[3], b"\r\n> " + FRAGMENTS[13] + b"\r\n+CMGS: 7\r\n\r\nOK\r\n", times_out=False),
        Exchange(COMMANDS[1], b"\xff\x00\r+CREG: 0,1\r\n+CREG: 1\r\n", times_out=True),
        Exchange(COMMANDS[0], b"OK\r\n+CSQ: 9,99\r\n\r\nOK\r\n", times_out=False),
    ]
    every_byte = list(range(1, 2000))
    whole = run(script, None)
    assert run(script, every_byte) == whole
    events, written = whole
    assert [type(event).__name__ for event in events] == [
        *["UnsolicitedResult"] * 5,
        "UnknownLine",
        "CommandCompleted",  # AT+CMGL=4, with the +CMTI, +CMT and ^RSSI kept out of its lines
        "CommandCompleted",  # AT+CMGS after the prompt
        "GarbageDiscarded",
        "CommandTimedOut",
        "StaleResponseDiscarded",  # the late OK of AT+CREG?
        "CommandCompleted",  # AT+CSQ, with its own OK
    ]
    assert written == b"AT+CMGL=4\rAT+CMGS=19\r" + FRAGMENTS[13] + b"AT+CREG?\rAT+CSQ\r"


@given(data=st.binary(max_size=600), timeout_at=st.floats(0, 10))
def test_arbitrary_bytes_never_raise(data: bytes, timeout_at: float) -> None:
    session = AtSession()
    session.send(AtCommand("AT+CMGS=3", payload="00"), 0.0)
    session.receive_data(data)
    session.handle_timer(timeout_at)
    session.data_to_send()
    while session.next_event() is not None:
        pass
