"""Sans-IO AT session: commands in, bytes out; bytes in, events out. No I/O, no clock, no asyncio.

Theory of operation (after h11). The caller owns the port and the monotonic clock. It calls `send()` with
its `now`, writes whatever `data_to_send()` returns, feeds every read to `receive_data()`, drains
`next_event()`, and calls `handle_timer(now)` once `timer()` is due. After each of `send`, `receive_data`
and `handle_timer` there may be new bytes to write.

Each received line is, in this order: the PDU of a pending two-line URC (+CMT/+CDS/+CBM, even mid-command);
the echo of the command (or of its payload), dropped; a final result, which ends the command; a URC,
reported as UnsolicitedResult and never glued into a response - unless the command in flight asks for that
very name (`+CREG: 0,1` answers AT+CREG? but is a URC otherwise); a vendor "^" line no command asked for,
reported as UnknownLine; else a response line of the command in flight, or UnknownLine when there is none.

Invariants: at most one command in flight; a command's event is emitted exactly once (completed, failed or
timed out); URCs and noise never end or fill a response unless the command names them.

Late responses. After CommandTimedOut the session is *draining* for `late_response_grace_s`: lines and
the first final result are attributed to the timed-out command and reported as StaleResponseDiscarded. A
command sent meanwhile is held (its bytes are not released) until the drain ends by that final or by the
grace deadline, so a late "OK" can never complete the next command. A payload command that times out gets
an ESC (0x1B, TS 27.005 §3.5.1: cancels text entry) so the modem does not read the next command as a PDU.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from gatewayd.at.events import (
    AtCommand,
    CommandCompleted,
    CommandFailed,
    CommandTimedOut,
    Event,
    GarbageDiscarded,
    StaleResponseDiscarded,
    UnknownLine,
    UnsolicitedResult,
)
from gatewayd.at.lines import GarbageBytes, LineSplitter, PromptSeen, TextLine
from gatewayd.at.results import FinalResult, FinalResultTable
from gatewayd.at.urc import UrcMatch, UrcTable, line_name, looks_like_pdu, names_queried_by

__all__ = [
    "AtCommand",
    "AtSession",
    "CommandCompleted",
    "CommandFailed",
    "CommandTimedOut",
    "Event",
    "GarbageDiscarded",
    "LocalProtocolError",
    "StaleResponseDiscarded",
    "UnknownLine",
    "UnsolicitedResult",
]

CTRL_Z = b"\x1a"  # ends a text-entry payload (TS 27.005 §3.5.1)
ESC = b"\x1b"  # aborts a text-entry payload (TS 27.005 §3.5.1)
DEFAULT_LATE_RESPONSE_GRACE_S = 2.0


class LocalProtocolError(Exception):
    """The caller misused the session (e.g. sent while a command is in flight); carries the command."""


@dataclass
class _Exchange:
    """The command whose response is being collected (or, while `held`, waits for a drain to end)."""

    command: AtCommand
    deadline: float
    queried: frozenset[str]
    held: bool
    lines: list[str] = field(default_factory=list)
    echo_possible: bool = True
    payload_sent: bool = False


@dataclass
class _Drain:
    """A timed-out command whose late answer is swallowed until its final or the grace deadline."""

    command: AtCommand
    deadline: float
    queried: frozenset[str]
    lines: list[str] = field(default_factory=list)


class AtSession:
    def __init__(
        self,
        *,
        extra_urc_prefixes: Iterable[str] = (),
        ignored_urc_prefixes: Iterable[str] = (),
        extra_final_ok: Iterable[str] = (),
        extra_final_error: Iterable[str] = (),
        late_response_grace_s: float = DEFAULT_LATE_RESPONSE_GRACE_S,
    ) -> None:
        self._splitter = LineSplitter()
        self._urcs = UrcTable(extra_prefixes=extra_urc_prefixes, ignored_prefixes=ignored_urc_prefixes)
        self._finals = FinalResultTable(extra_ok=extra_final_ok, extra_error=extra_final_error)
        self._grace_s = late_response_grace_s
        self._outgoing = bytearray()
        self._events: deque[Event] = deque()
        self._exchange: _Exchange | None = None
        self._drain: _Drain | None = None
        self._pending_pdu_urc: UrcMatch | None = None
        self._pending_pdu_line = ""

    # -- caller API ---------------------------------------------------------------------------------
    @property
    def in_flight(self) -> AtCommand | None:
        return self._exchange.command if self._exchange else None

    def send(self, command: AtCommand, now: float) -> None:
        """Queue `command` ("AT...\\r"); raises LocalProtocolError if one is in flight or it is malformed."""
        if self._exchange is not None:
            raise LocalProtocolError(
                f"cannot send {command.text!r}: {self._exchange.command.text!r} is still in flight"
            )
        _check_command(command)
        held = self._drain is not None
        start = max(now, self._drain.deadline) if self._drain is not None else now
        self._exchange = _Exchange(
            command=command,
            deadline=start + command.timeout_s,
            queried=names_queried_by(command.text),
            held=held,
        )
        if not held:
            self._outgoing += command.text.encode("ascii") + b"\r"

    def data_to_send(self) -> bytes:
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        for token in self._splitter.feed(data):
            if isinstance(token, TextLine):
                self._on_line(token.text)
            elif isinstance(token, PromptSeen):
                self._on_prompt()
            elif isinstance(token, GarbageBytes):
                self._events.append(GarbageDiscarded(token.data))

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def timer(self) -> float | None:
        """The earliest deadline: the drain's grace end, else the in-flight command's timeout."""
        if self._drain is not None:
            return self._drain.deadline
        return self._exchange.deadline if self._exchange else None

    def handle_timer(self, now: float) -> None:
        if self._drain is not None and now >= self._drain.deadline:
            self._end_drain(final=None)
        exchange = self._exchange
        if exchange is None or exchange.held or now < exchange.deadline:
            return
        self._exchange = None
        self._events.append(CommandTimedOut(exchange.command, tuple(exchange.lines)))
        if exchange.command.payload is not None:
            self._outgoing += ESC
        if self._grace_s > 0:
            self._drain = _Drain(exchange.command, now + self._grace_s, exchange.queried)

    # -- received lines -----------------------------------------------------------------------------
    def _on_line(self, line: str) -> None:
        if self._pending_pdu_urc is not None and self._take_pdu(line):
            return
        exchange = self._active_exchange()
        if exchange is not None and _is_echo(exchange, line):
            exchange.echo_possible = False
            return
        final = self._finals.classify(line)
        if final is not None and (exchange is not None or self._drain is not None):
            self._on_final(final)
            return
        urc = self._urcs.match(line)
        if urc is not None and (urc.ignored or urc.name.upper() not in self._queried_now()):
            self._on_urc(urc, line)
            return
        if urc is None and line.startswith("^") and line_name(line).upper() not in self._queried_now():
            self._events.append(UnknownLine(line))  # lesson 3: vendor floods must not fill responses
            return
        self._on_response_line(line)

    def _on_response_line(self, line: str) -> None:
        exchange = self._active_exchange()
        if exchange is not None:
            exchange.lines.append(line)
            exchange.echo_possible = False
        elif self._drain is not None:
            self._drain.lines.append(line)
        else:
            self._events.append(UnknownLine(line))

    def _on_final(self, final: FinalResult) -> None:
        exchange = self._active_exchange()
        if exchange is None:
            self._end_drain(final=final.line)
            return
        self._exchange = None
        lines = tuple(exchange.lines)
        if final.success:
            self._events.append(CommandCompleted(exchange.command, lines, final.line))
        else:
            self._events.append(CommandFailed(exchange.command, lines, final.line, final.cme, final.cms))

    def _on_urc(self, urc: UrcMatch, line: str) -> None:
        if urc.expects_pdu:
            self._pending_pdu_urc = urc
            self._pending_pdu_line = line
            return
        self._events.append(UnsolicitedResult(urc.name, line, None, ignored=urc.ignored))

    def _take_pdu(self, line: str) -> bool:
        """Complete a pending two-line URC; True if `line` was its PDU (else the URC goes out bare)."""
        urc, header = self._pending_pdu_urc, self._pending_pdu_line
        assert urc is not None
        self._pending_pdu_urc = None
        is_pdu = looks_like_pdu(line)
        pdu = line if is_pdu else None
        self._events.append(UnsolicitedResult(urc.name, header, pdu, ignored=urc.ignored))
        return is_pdu

    def _on_prompt(self) -> None:
        exchange = self._active_exchange()
        if exchange is not None and exchange.command.payload is not None and not exchange.payload_sent:
            exchange.payload_sent = True
            self._outgoing += exchange.command.payload.encode("ascii") + CTRL_Z
        elif exchange is None and self._drain is not None and self._drain.command.payload is not None:
            self._outgoing += ESC  # the late prompt of a timed-out send: cancel it, do not feed it
        else:
            self._events.append(UnknownLine(">"))

    # -- state --------------------------------------------------------------------------------------
    def _active_exchange(self) -> _Exchange | None:
        """The exchange whose bytes went out (a held one cannot have produced any answer yet)."""
        exchange = self._exchange
        return exchange if exchange is not None and not exchange.held else None

    def _queried_now(self) -> frozenset[str]:
        exchange = self._active_exchange()
        if exchange is not None:
            return exchange.queried
        return self._drain.queried if self._drain is not None else frozenset()

    def _end_drain(self, final: str | None) -> None:
        drain = self._drain
        if drain is None:
            return
        self._drain = None
        self._events.append(StaleResponseDiscarded(drain.command, tuple(drain.lines), final))
        exchange = self._exchange
        if exchange is not None and exchange.held:
            exchange.held = False
            self._outgoing += exchange.command.text.encode("ascii") + b"\r"


def _is_echo(exchange: _Exchange, line: str) -> bool:
    command = exchange.command
    if exchange.echo_possible and line.upper() == command.text.strip().upper():
        return True
    # With echo on, the payload typed after "> " comes back, often with the Ctrl-Z (TS 27.005 §3.5.1).
    if not exchange.payload_sent or command.payload is None:
        return False
    return line.replace("\x1a", "") == command.payload


def _check_command(command: AtCommand) -> None:
    text = command.text
    problem = None
    if text[:2].upper() != "AT":
        problem = "does not start with AT"
    elif not text.isascii() or any(ch in text for ch in "\r\n\x1a\x1b"):
        problem = "holds non-ASCII or CR/LF/Ctrl-Z/ESC"
    elif command.payload is not None and (
        not command.payload.isascii() or any(ch in command.payload for ch in "\r\n\x1a\x1b")
    ):
        problem = "has a payload with non-ASCII or CR/LF/Ctrl-Z/ESC"
    elif command.timeout_s <= 0:
        problem = f"has a non-positive timeout {command.timeout_s}"
    if problem:
        raise LocalProtocolError(f"command {text!r} {problem}")
