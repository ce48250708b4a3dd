"""The modem side's small AT command-line parser (ITU-T V.250 §5): "AT" prefix, basic and extended commands.

Pure; independent of gatewayd.at (that is the daemon's side and must not be what tests it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

_EXTENDED_PREFIXES = "+^$#%*"


class CommandKind(Enum):
    EXECUTE = "execute"  # AT+CGMI, ATZ
    QUERY = "query"  # AT+CPMS?
    SET = "set"  # AT+CMGL=4, ATE0
    TEST = "test"  # AT+CPMS=?


@dataclass(frozen=True)
class Command:
    text: str
    name: str  # upper-cased: "+CMGL", "E", "&F"
    kind: CommandKind
    args: tuple[str, ...]  # quotes removed; basic commands carry their number here ("E0" → ("0",))


class CommandLineError(ValueError):
    """The line after "AT" is not well-formed; the modem answers ERROR."""

    def __init__(self, line: str, position: int) -> None:
        super().__init__(f"malformed command line {line!r} at position {position}")
        self.line = line
        self.position = position


def find_command_body(line: str) -> str | None:
    """What follows the "AT" prefix, or None when there is none (V.250 §5.2.1: text before it is ignored)."""
    start = line.upper().find("AT")
    return None if start < 0 else line[start + 2 :]


def split_commands(body: str) -> list[Command]:
    """Split `E0;+CMEE=1;+CMGF=0` or `E0V1` into commands; ';' inside quotes does not split."""
    commands: list[Command] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char in " ;":
            position += 1
        elif char in _EXTENDED_PREFIXES:
            end = _end_of_extended(body, position)
            commands.append(_parse_extended(body[position:end]))
            position = end
        elif char.isalpha() or char == "&":
            end = _end_of_basic(body, position)
            commands.append(_parse_basic(body[position:end]))
            position = end
        else:
            raise CommandLineError(body, position)
    return commands


def _end_of_extended(body: str, start: int) -> int:
    quoted = False
    for position in range(start, len(body)):
        if body[position] == '"':
            quoted = not quoted
        elif body[position] == ";" and not quoted:
            return position
    return len(body)


def _end_of_basic(body: str, start: int) -> int:
    position = start + (2 if body[start] == "&" else 1)
    while position < len(body) and body[position].isdigit():
        position += 1
    return position


def _parse_basic(text: str) -> Command:
    letters = 2 if text.startswith("&") else 1
    name, number = text[:letters].upper(), text[letters:]
    if number:
        return Command(text, name, CommandKind.SET, (number,))
    return Command(text, name, CommandKind.EXECUTE, ())


def _parse_extended(text: str) -> Command:
    cut = len(text)
    for position, char in enumerate(text):
        if char in "=?":
            cut = position
            break
    name, rest = text[:cut].strip().upper(), text[cut:].strip()
    if rest == "":
        return Command(text, name, CommandKind.EXECUTE, ())
    if rest == "?":
        return Command(text, name, CommandKind.QUERY, ())
    if rest == "=?":
        return Command(text, name, CommandKind.TEST, ())
    if rest.startswith("="):
        return Command(text, name, CommandKind.SET, split_arguments(rest[1:]))
    raise CommandLineError(text, cut)


def split_arguments(text: str) -> tuple[str, ...]:
    """`"SM","SM",1` → ("SM", "SM", "1"): commas inside quotes are kept, quotes removed, blanks trimmed."""
    args: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quoted:
        raise CommandLineError(text, len(text))
    args.append("".join(current).strip())
    return tuple(args)
