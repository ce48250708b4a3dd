"""The URC table: which lines are unsolicited, which are followed by a PDU line, which are vendor noise.

Pure lookups by line name; it never decides alone whether a line answers the command in flight (the
session does, with `names_queried_by`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Unsolicited result codes we know. Sources: 3GPP TS 27.005 §3.4.1 (+CMTI +CMT +CBM +CDS +CDSI +CBMI),
# TS 27.007 §7.2/§10.1.19/§10.1.22 (+CREG +CGREG +CEREG), §7.3/§8.10 (+CRING +CLIP +CCWA +CUSD +CIEV),
# §10.1.12 (+CGEV), §8.52 (+CTZV/+CTZE); SIM800 Series AT Command Manual v1.09 §A (RDY, +CFUN, +CPIN,
# Call Ready, SMS Ready, *PSUTTZ, DST, +PACSP, NORMAL POWER DOWN, UNDER-VOLTAGE ...); SIM7600 AT Command
# Manual v1.10 (PB DONE, +SIMCARD, +CNSMOD); Quectel EC25 AT Commands Manual v2.0 (+QIND, +QUSIM);
# Huawei HSPA/LTE module AT Command Interface Specification (^RSSI ^HCSQ ^BOOT ^MODE ^SRVST ^SIMST
# ^DSFLOWRPT ^CEND ^ORIG ^CONF ^CONN ^STIN ^SYSSTART ^NDISSTAT).
STANDARD_URC_NAMES = frozenset(
    {
        "+CMTI", "+CMT", "+CDSI", "+CDS", "+CBMI", "+CBM",
        "+CREG", "+CGREG", "+CEREG", "+C5GREG",
        "RING", "+CRING", "+CLIP", "+CCWA", "+CUSD", "+CIEV", "+CGEV", "+CTZV", "+CTZE", "+CTZU",
        "NO CARRIER",
        "RDY", "+CFUN", "+CPIN", "Call Ready", "SMS Ready", "*PSUTTZ", "DST", "+PACSP", "+STIN",
        "NORMAL POWER DOWN", "POWERED DOWN", "UNDER-VOLTAGE POWER DOWN", "UNDER-VOLTAGE WARNNING",
        "OVER-VOLTAGE POWER DOWN", "OVER-VOLTAGE WARNNING",
        "PB DONE", "+SIMCARD", "+CNSMOD",
        "+QIND", "+QUSIM",
        "^RSSI", "^HCSQ", "^BOOT", "^MODE", "^SRVST", "^SIMST", "^DSFLOWRPT", "^CEND", "^ORIG", "^CONF",
        "^CONN", "^STIN", "^SYSSTART", "^NDISSTAT",
    }
)  # fmt: skip

# TS 27.005 §3.4.1: in PDU mode "+CMT: [<alpha>],<length>", "+CDS: <length>" and "+CBM: <length>" are
# each followed by a line holding the PDU in hex. In text mode +CDS is one line with many fields.
_TWO_LINE_NAMES = frozenset({"+CMT", "+CBM"})
_TWO_LINE_IF_SINGLE_FIELD = frozenset({"+CDS"})

# A command's own name: "+CREG" in "AT+CREG?", "^SYSINFO" in "AT^SYSINFO", "+CMGL" in "at+cmgl=4".
_COMMAND_NAME = re.compile(r"[+^*$#%&][A-Za-z0-9_]+")
_HEX_PDU = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class UrcMatch:
    name: str
    ignored: bool  # vendor noise: counted, never taken as a command's response
    expects_pdu: bool  # the next line is this URC's PDU


def line_name(line: str) -> str:
    """The part before the first colon ("+CMTI" of '+CMTI: "SM",3'), or the whole line ("RDY")."""
    head, colon, _ = line.partition(":")
    return head.strip() if colon else line.strip()


def names_queried_by(command_text: str) -> frozenset[str]:
    """Result-line names a command asks for: AT+CREG?;+CGREG? → {"+CREG", "+CGREG"} (upper case)."""
    body = command_text[2:] if command_text[:2].upper() == "AT" else command_text
    names = set()
    for part in body.split(";"):
        found = _COMMAND_NAME.match(part.strip())
        if found:
            names.add(found.group(0).upper())
    return frozenset(names)


def looks_like_pdu(line: str) -> bool:
    return _HEX_PDU.fullmatch(line) is not None and len(line) % 2 == 0


class UrcTable:
    """Known URC names plus the profile's extras; `ignored` ones are still reported, for counting."""

    def __init__(self, *, extra_prefixes: Iterable[str] = (), ignored_prefixes: Iterable[str] = ()) -> None:
        self._ignored = frozenset(_clean(prefix) for prefix in ignored_prefixes)
        extra = frozenset(_clean(prefix) for prefix in extra_prefixes)
        self._known = STANDARD_URC_NAMES | extra | self._ignored

    def match(self, line: str) -> UrcMatch | None:
        name = line_name(line)
        if name not in self._known:
            return None
        return UrcMatch(name=name, ignored=name in self._ignored, expects_pdu=_expects_pdu(name, line))


def _clean(prefix: str) -> str:
    return prefix.strip().removesuffix(":").strip()


def _expects_pdu(name: str, line: str) -> bool:
    if name in _TWO_LINE_NAMES:
        return True
    if name in _TWO_LINE_IF_SINGLE_FIELD:
        return "," not in line.partition(":")[2]
    return False
