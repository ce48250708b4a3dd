"""Server→client frames prepared once as whole WebSocket text frames (RFC 6455 §5.2), shared by all sockets.

Pure: stdlib only, no sockets. Valid only on connections without extensions (permessage-deflate declined) and
from the server side, which never masks (RFC 6455 §5.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

# RFC 6455 §5.2: FIN=1, RSV1-3=0, opcode 0x1 (text).
_FIN_TEXT: Final = 0x81
_LEN_16BIT: Final = 126  # the next 2 bytes carry the length
_LEN_64BIT: Final = 127  # the next 8 bytes carry the length


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame carrying `payload` (already UTF-8)."""
    length = len(payload)
    if length < _LEN_16BIT:
        header = struct.pack("!BB", _FIN_TEXT, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, _LEN_16BIT, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, _LEN_64BIT, length)
    return header + payload


@dataclass(frozen=True, slots=True)
class OutboundFrame:
    """A Pusher frame as text (for aiohttp's writer) and as finished wire bytes (for `transport.write`)."""

    text: str
    wire: bytes

    @classmethod
    def of(cls, text: str) -> OutboundFrame:
        return cls(text, text_frame(text.encode()))

    @property
    def size(self) -> int:
        return len(self.wire)
