"""Split the modem's byte stream into text lines, "> " prompts and discarded garbage.

Pure and chunk-agnostic: the tokens depend only on the bytes, never on how reads split them. It never
raises on input: bytes that are not text are reported as garbage and the reader resynchronises.

Rules, applied as if byte by byte:
- CR and LF both end a line; runs of them (CRLF, LFCR, a lone CR) are one break; empty lines vanish.
- A line that begins with ">" followed by a space is the text-entry prompt (3GPP TS 27.005 §3.5.1: the TA
  sends <CR><LF><greater_than><space> and no terminator); the rest of that line (the echoed payload) is an
  ordinary line.
- A line is cut into garbage once it reaches `max_line_bytes` without a terminator, so a modem that
  streams noise cannot grow memory.
- In a finished line, everything up to and including the last byte that is not valid UTF-8 text (or is a
  control character other than TAB and Ctrl-Z) is garbage; what follows is the line. Noise before a real
  response (e.g. b"\\xff\\x00OK" after a power glitch) thus resyncs onto "OK".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

PROMPT = b"> "
DEFAULT_MAX_LINE_BYTES = 4096
_LINE_BREAK = re.compile(rb"[\r\n]")
# TAB is harmless in text; Ctrl-Z (0x1A) ends an echoed text-entry payload (TS 27.005 §3.5.1).
_ALLOWED_CONTROLS = frozenset("\t\x1a")
_FORBIDDEN_CONTROL = re.compile("[\x00-\x08\x0a-\x19\x1b-\x1f\x7f]")


@dataclass(frozen=True)
class TextLine:
    text: str


@dataclass(frozen=True)
class PromptSeen:
    pass


@dataclass(frozen=True)
class GarbageBytes:
    data: bytes


LineToken = TextLine | PromptSeen | GarbageBytes


class LineSplitter:
    """Feed bytes, get tokens. Holds only the unfinished tail of the current line."""

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < len(PROMPT) + 1:
            raise ValueError(f"max_line_bytes must exceed {len(PROMPT)}, got {max_line_bytes}")
        self._max_line_bytes = max_line_bytes
        self._partial = b""

    @property
    def pending(self) -> bytes:
        """Bytes of the current, unterminated line (for diagnostics)."""
        return self._partial

    def feed(self, data: bytes) -> list[LineToken]:
        tokens: list[LineToken] = []
        start = 0
        while start < len(data):
            end = _next_break(data, start)
            if end is None:
                self._partial = self._absorb(self._partial + data[start:], tokens)
                break
            line = self._absorb(self._partial + data[start:end], tokens)
            self._partial = b""
            if line:
                tokens.extend(_decode_line(line))
            start = end + 1
        return tokens

    def _absorb(self, chunk: bytes, tokens: list[LineToken]) -> bytes:
        """Take prompts and over-long runs off the front of an unterminated line; return the rest."""
        while True:
            if chunk.startswith(PROMPT):
                tokens.append(PromptSeen())
                chunk = chunk[len(PROMPT) :]
            elif len(chunk) >= self._max_line_bytes:
                tokens.append(GarbageBytes(chunk[: self._max_line_bytes]))
                chunk = chunk[self._max_line_bytes :]
            else:
                return chunk


def _next_break(data: bytes, start: int) -> int | None:
    found = _LINE_BREAK.search(data, start)
    return found.start() if found else None


def _decode_line(raw: bytes) -> Iterator[LineToken]:
    """One finished line → optional garbage (the part up to the last bad byte) and optional text."""
    try:
        clean = raw.decode("utf-8")
    except UnicodeDecodeError:
        clean = None
    if clean is not None and not _FORBIDDEN_CONTROL.search(clean):  # the common case, without a scan
        clean = clean.strip(" \t")
        if clean:
            yield TextLine(clean)
        return
    text = raw.decode("utf-8", errors="surrogateescape")
    last_bad = max((i for i, ch in enumerate(text) if _is_bad(ch)), default=-1)
    if last_bad >= 0:
        cut = len(text[: last_bad + 1].encode("utf-8", errors="surrogateescape"))
        yield GarbageBytes(raw[:cut])
        text = text[last_bad + 1 :]
    text = text.strip(" \t")
    if text:
        yield TextLine(text)


def _is_bad(ch: str) -> bool:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, smuggled through by surrogateescape
        return True
    return (code < 0x20 or code == 0x7F) and ch not in _ALLOWED_CONTROLS
