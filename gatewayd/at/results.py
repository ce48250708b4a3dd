"""Recognise final result codes: the line that ends a command's response, with its +CME/+CMS number.

Pure classification of one text line; it does not decide *which* command a final belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gatewayd.at.codes import cme_code_for_text, cms_code_for_text

# ITU-T V.250 §5.7.1 final result codes (verbose form) that end a command unsuccessfully. "OK" is the only
# standard success; CONNECT is left out on purpose: it enters data mode, which this gateway never uses.
_STANDARD_ERRORS = frozenset({"ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})
CME_PREFIX = "+CME ERROR:"
CMS_PREFIX = "+CMS ERROR:"
_TextLookup = Callable[[str], int | None]


@dataclass(frozen=True)
class FinalResult:
    line: str
    success: bool
    cme: int | None = None
    cms: int | None = None


class FinalResultTable:
    """Standard finals plus the vendor's (from the hardware profile).

    A vendor entry matches a line exactly, or as a prefix when the entry ends with ":" (e.g. "+CIEV:" is a
    bad idea, "COMMAND NOT SUPPORT" is a good one: ZTE/Huawei firmware ends unknown commands with it).
    """

    def __init__(self, *, extra_ok: Iterable[str] = (), extra_error: Iterable[str] = ()) -> None:
        self._ok = _VendorFinals(extra_ok)
        self._error = _VendorFinals(extra_error)

    def classify(self, line: str) -> FinalResult | None:
        if line == "OK" or self._ok.matches(line):
            return FinalResult(line, success=True)
        upper = line.upper()
        if upper.startswith(CME_PREFIX):
            detail = line[len(CME_PREFIX) :].strip()
            return FinalResult(line, success=False, cme=_error_number(detail, cme_code_for_text))
        if upper.startswith(CMS_PREFIX):
            detail = line[len(CMS_PREFIX) :].strip()
            return FinalResult(line, success=False, cms=_error_number(detail, cms_code_for_text))
        if line in _STANDARD_ERRORS or self._error.matches(line):
            return FinalResult(line, success=False)
        return None


class _VendorFinals:
    def __init__(self, entries: Iterable[str]) -> None:
        listed = [entry.strip() for entry in entries if entry.strip()]
        self._exact = frozenset(entry for entry in listed if not entry.endswith(":"))
        self._prefixes = tuple(entry for entry in listed if entry.endswith(":"))

    def matches(self, line: str) -> bool:
        return line in self._exact or line.startswith(self._prefixes)


def _error_number(detail: str, by_text: _TextLookup) -> int | None:
    """`+CME ERROR: 10` (AT+CMEE=1) → 10; `+CME ERROR: SIM not inserted` (AT+CMEE=2) → looked up."""
    if detail.isdigit():
        return int(detail)
    return by_text(detail)
