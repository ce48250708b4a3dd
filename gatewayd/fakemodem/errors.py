"""Final error results of an emulated modem: ERROR, +CME ERROR (TS 27.007 §9.2), +CMS ERROR (27.005 §3.2.5).

Internal to the fake modem's command handlers; nothing here reaches the daemon except as bytes.
"""

from __future__ import annotations

# TS 27.007 §9.2.1 texts for the codes the fake modem uses (AT+CMEE=2 prints these).
_CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    21: "invalid index",
    50: "incorrect parameters",
    100: "unknown",
}


class AtError(Exception):
    """A command failed; the subclass decides how the final result is printed."""


class PlainError(AtError):
    def __init__(self) -> None:
        super().__init__("ERROR")


class CmeError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(f"+CME ERROR: {code}")
        self.code = code


class CmsError(AtError):
    def __init__(self, code: int) -> None:
        super().__init__(f"+CMS ERROR: {code}")
        self.code = code


def format_error(error: AtError, cmee: int) -> str:
    """The final result line. +CME follows AT+CMEE (0: ERROR, 1: numeric, 2: verbose);
    +CMS is printed as a number whatever CMEE says (TS 27.005 §3.2.5 defines it as a final result code)."""
    if isinstance(error, CmeError):
        if cmee == 0:
            return "ERROR"
        if cmee == 2 and error.code in _CME_TEXT:
            return f"+CME ERROR: {_CME_TEXT[error.code]}"
        return f"+CME ERROR: {error.code}"
    if isinstance(error, CmsError):
        return f"+CMS ERROR: {error.code}"
    return "ERROR"
