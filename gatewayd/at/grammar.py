"""The shared grammar of AT response lines: quoted comma fields, named lines, numbers; AtParseError.

Pure string handling for commands.py and sms_commands.py; knows no particular command.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatewayd.at.urc import line_name


class AtParseError(ValueError):
    """A response line is not what the command's grammar allows; `line` is the evidence."""

    def __init__(self, problem: str, line: str) -> None:
        super().__init__(f"{problem}: {line!r}")
        self.problem = problem
        self.line = line


def split_fields(text: str) -> list[str]:
    """Comma-separated fields with double quotes honoured and removed: '"a,b",3' → ["a,b", "3"]."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    fields.append("".join(current).strip())
    return fields


def payload_of(line: str) -> str:
    """What follows the first colon: '"SM",3' of '+CMTI: "SM",3'."""
    return line.partition(":")[2].strip()


def find_line(lines: Sequence[str], name: str) -> str:
    """The first line named `name` (upper case, e.g. "+CSQ"), compared case-insensitively."""
    for line in lines:
        if line_name(line).upper() == name:
            return line
    raise AtParseError(f"no {name} line", " | ".join(lines))


def fields_of(line: str, name: str) -> list[str]:
    """The fields of a single line that must be named `name` (URCs are passed one line at a time)."""
    if line_name(line).upper() != name:
        raise AtParseError(f"not a {name} line", line)
    return split_fields(payload_of(line))


def to_int(text: str, line: str, what: str) -> int:
    if not text.isdigit():
        raise AtParseError(f"{what} is not a number", line)
    return int(text)


def optional_int(fields: Sequence[str], index: int, line: str, what: str) -> int | None:
    if index >= len(fields) or fields[index] == "":
        return None
    return to_int(fields[index], line, what)


def optional_hex(fields: Sequence[str], index: int, line: str, what: str) -> int | None:
    if index >= len(fields) or fields[index] == "":
        return None
    try:
        return int(fields[index], 16)
    except ValueError:
        raise AtParseError(f"{what} is not hexadecimal", line) from None
