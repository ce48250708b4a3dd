"""LineSplitter: CR/LF handling, the "> " prompt, garbage resync, and independence from read boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatewayd.at.lines import GarbageBytes, LineSplitter, LineToken, PromptSeen, TextLine


def split(data: bytes, **kwargs: int) -> list[LineToken]:
    return LineSplitter(**kwargs).feed(data)


def split_in_chunks(data: bytes, cuts: list[int], **kwargs: int) -> tuple[list[LineToken], bytes]:
    splitter = LineSplitter(**kwargs)
    tokens: list[LineToken] = []
    bounds = [0, *sorted(set(cut % (len(data) + 1) for cut in cuts)), len(data)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        tokens.extend(splitter.feed(data[start:end]))
    return tokens, splitter.pending


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\r\nOK\r\n", [TextLine("OK")]),
        (b"OK\n", [TextLine("OK")]),  # LF only (ATS4 changed, or a line that lost its CR)
        (b"OK\r", [TextLine("OK")]),  # lone CR: ATS4 set to 13 as well, or a truncated CRLF
        (b"\n\rOK\n\r", [TextLine("OK")]),  # LFCR order
        (b"\r\n\r\n\r\n", []),  # empty lines vanish
        (
            b"AT+CSQ\r\r\n+CSQ: 21,99\r\n\r\nOK\r\n",  # echo on: the echo ends with S3 alone
            [TextLine("AT+CSQ"), TextLine("+CSQ: 21,99"), TextLine("OK")],
        ),
        (b"  OK  \r\n", [TextLine("OK")]),
        (b"\r\n> ", [PromptSeen()]),  # TS 27.005 §3.5.1: four characters, no terminator
        (b"\r\n> 0011\x1a\r\n", [PromptSeen(), TextLine("0011\x1a")]),  # echoed payload with Ctrl-Z
        (b"a > b\r\n", [TextLine("a > b")]),  # not at line start: no prompt
        (b"\r\n>", []),  # maybe a prompt: wait for the space
        ("+COPS: 0,0,\"Telefónica\"\r\n".encode(), [TextLine('+COPS: 0,0,"Telefónica"')]),
    ],
)
def test_split_table(data: bytes, expected: list[LineToken]) -> None:
    assert split(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Power glitch noise glued to the start of a response (seen on SIM800 brown-outs): resync onto OK.
        (b"\xff\xff\x00OK\r\n", [GarbageBytes(b"\xff\xff\x00"), TextLine("OK")]),
        (b"\xff\xfe\r\nOK\r\n", [GarbageBytes(b"\xff\xfe"), TextLine("OK")]),
        # Invalid UTF-8 in the middle: everything up to the last bad byte goes.
        (b"RD\xc3Y\r\n", [GarbageBytes(b"RD\xc3"), TextLine("Y")]),
        (b"\x00\x00\x00\r\n", [GarbageBytes(b"\x00\x00\x00")]),
        # An encoded surrogate is not valid UTF-8 either.
        (b"\xed\xa0\x80OK\r\n", [GarbageBytes(b"\xed\xa0\x80"), TextLine("OK")]),
    ],
)
def test_garbage_is_reported_and_the_line_resyncs(data: bytes, expected: list[LineToken]) -> None:
    assert split(data) == expected


def test_an_endless_line_is_cut_into_garbage_at_the_limit() -> None:
    tokens = split(b"x" * 25 + b"\r\nOK\r\n", max_line_bytes=10)
    assert tokens == [GarbageBytes(b"x" * 10), GarbageBytes(b"x" * 10), TextLine("x" * 5), TextLine("OK")]


def test_pending_holds_the_unterminated_tail() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"+CSQ: 2") == []
    assert splitter.pending == b"+CSQ: 2"
    assert splitter.feed(b"1,99\r\n") == [TextLine("+CSQ: 21,99")]
    assert splitter.pending == b""


def test_a_limit_too_small_for_the_prompt_is_refused() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineSplitter(max_line_bytes=2)


ALPHABET = st.sampled_from(
    [b"\r", b"\n", b"> ", b">", b" ", b"O", b"K", b"\xff", b"\x00", b"\xc3", b"\xa9", b"A"]
)


@given(
    data=st.one_of(st.binary(max_size=300), st.lists(ALPHABET, max_size=120).map(b"".join)),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=40),
)
def test_any_chunking_gives_the_same_tokens(data: bytes, cuts: list[int]) -> None:
    whole = LineSplitter(max_line_bytes=16)
    expected = whole.feed(data)
    assert split_in_chunks(data, cuts, max_line_bytes=16) == (expected, whole.pending)


@given(data=st.binary(max_size=500).map(lambda raw: raw.replace(b" ", b"").replace(b"\t", b"")))
def test_no_bytes_are_lost_or_invented(data: bytes) -> None:
    """Without blanks (which text lines strip), every byte but CR/LF is in exactly one token or pending."""
    splitter = LineSplitter(max_line_bytes=32)
    accounted = 0
    for token in splitter.feed(data):
        if isinstance(token, GarbageBytes):
            accounted += len(token.data)
        elif isinstance(token, TextLine):
            accounted += len(token.text.encode("utf-8"))
    kept = len(data.replace(b"\r", b"").replace(b"\n", b""))
    assert accounted + len(splitter.pending) == kept
