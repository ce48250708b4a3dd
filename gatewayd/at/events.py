"""Events an `AtSession` emits and the command it sends; plain frozen data, re-exported by session.py.

Nothing here does I/O or parsing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AtCommand:
    text: str  # e.g. "AT+CMGR=3", without the CR
    timeout_s: float = 5.0
    payload: str | None = None  # AT+CMGS/CMGW: written after the "> " prompt, followed by Ctrl-Z (0x1A)


@dataclass(frozen=True)
class CommandCompleted:
    command: AtCommand
    lines: tuple[str, ...]
    final: str  # "OK" or a vendor success final


@dataclass(frozen=True)
class CommandFailed:
    command: AtCommand
    lines: tuple[str, ...]
    final: str  # the whole final line, e.g. "+CMS ERROR: 500"
    cme: int | None
    cms: int | None


@dataclass(frozen=True)
class CommandTimedOut:
    command: AtCommand
    lines: tuple[str, ...]  # response lines received before the deadline


@dataclass(frozen=True)
class UnsolicitedResult:
    name: str  # "+CMTI", "^RSSI", "RDY"...
    line: str
    pdu: str | None  # the second line of a two-line +CMT / +CDS / +CBM
    ignored: bool = False  # listed as vendor noise by the profile: count it, do nothing else


@dataclass(frozen=True)
class UnknownLine:
    line: str  # outside any command and in no table (or a vendor "^" line no command asked for)


@dataclass(frozen=True)
class GarbageDiscarded:
    data: bytes


@dataclass(frozen=True)
class StaleResponseDiscarded:
    """What arrived for a command after it had timed out; `final` is None when the grace period ran out."""

    command: AtCommand
    lines: tuple[str, ...]
    final: str | None


Event = (
    CommandCompleted
    | CommandFailed
    | CommandTimedOut
    | UnsolicitedResult
    | UnknownLine
    | GarbageDiscarded
    | StaleResponseDiscarded
)
