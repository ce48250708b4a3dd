"""Typed builders of AT commands and pure parsers of their response lines (3GPP TS 27.005 / 27.007).

Parsers take the `lines` of a CommandCompleted (echo, blank lines and the final already removed) and
return a frozen dataclass, or raise AtParseError carrying the offending line. No I/O, no session state.
The SMS storage/reading/sending half lives in sms_commands.py and is re-exported here: import from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gatewayd.at.grammar import (
    AtParseError,
    find_line,
    optional_hex,
    optional_int,
    payload_of,
    split_fields,
    to_int,
)
from gatewayd.at.sms_commands import (
    LIST_TIMEOUT_S,
    SEND_TIMEOUT_S,
    ListedMessage,
    MemoryUsage,
    MessageStorage,
    StorageIndication,
    StoredMessage,
    SubmitResult,
    build_cmgd,
    build_cmgf_pdu,
    build_cmgl,
    build_cmgr,
    build_cmgs,
    build_cnmi,
    build_cpms,
    parse_cdsi,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
    parse_cmti,
    parse_cpms,
)
from gatewayd.at.urc import line_name

__all__ = [
    "AtParseError",
    "Iccid",
    "Imei",
    "Imsi",
    "LIST_TIMEOUT_S",
    "ListedMessage",
    "MemoryUsage",
    "MessageStorage",
    "Operator",
    "OwnNumber",
    "OwnNumbers",
    "ProductText",
    "REGISTRATION_STATUS_NAMES",
    "Registration",
    "SEND_TIMEOUT_S",
    "SignalQuality",
    "SimPinState",
    "StorageIndication",
    "StoredMessage",
    "SubmitResult",
    "build_cmgd",
    "build_cmgf_pdu",
    "build_cmgl",
    "build_cmgr",
    "build_cmgs",
    "build_cnmi",
    "build_cpms",
    "parse_cdsi",
    "parse_cereg",
    "parse_cgmi",
    "parse_cgmm",
    "parse_cgmr",
    "parse_cgreg",
    "parse_cmgl",
    "parse_cmgr",
    "parse_cmgs",
    "parse_cmti",
    "parse_cnum",
    "parse_cops",
    "parse_cpin",
    "parse_cpms",
    "parse_creg",
    "parse_csq",
    "parse_iccid",
    "parse_imei",
    "parse_imsi",
    "parse_registration_urc",
    "parse_text_response",
    "split_fields",
]


def _only_text(lines: Sequence[str], prefixes: Sequence[str]) -> str:
    """The first line, without any of `prefixes` (vendors add "+CGMR: " or "Revision:")."""
    for line in lines:
        text = line
        for prefix in prefixes:
            if text.upper().startswith(prefix.upper()):
                text = text[len(prefix) :].strip()
                break
        if text:
            return text.strip('"')
    raise AtParseError("empty response", " | ".join(lines))


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = int(ch) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


# -- identity -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProductText:
    value: str  # manufacturer, model or revision as the modem spells it


@dataclass(frozen=True)
class Imei:
    value: str

    @property
    def luhn_valid(self) -> bool:
        return len(self.value) == 15 and _luhn_valid(self.value)


@dataclass(frozen=True)
class Imsi:
    value: str


@dataclass(frozen=True)
class Iccid:
    value: str  # digits only, F filler removed, in reading order (starts with 89 per ITU-T E.118)

    @property
    def luhn_valid(self) -> bool:
        return _luhn_valid(self.value)


_TEXT_PREFIXES = ("+CGMI:", "+CGMM:", "+CGMR:", "+GMI:", "+GMM:", "+GMR:", "Revision:")


def parse_text_response(lines: Sequence[str]) -> ProductText:
    """AT+CGMI / AT+CGMM / AT+CGMR: "SIMCOM_Ltd", "+CGMR: LE20B04SIM7600M22", "Revision:1418B04SIM800L24"."""
    return ProductText(_only_text(lines, _TEXT_PREFIXES))


parse_cgmi = parse_cgmm = parse_cgmr = parse_text_response


def parse_imei(lines: Sequence[str]) -> Imei:
    """AT+CGSN: a bare "868822040061234", or "+CGSN: 868822040061234" (SIM7600 with some firmware)."""
    value = _only_text(lines, ("+CGSN:", "+GSN:"))
    if not (value.isdigit() and 14 <= len(value) <= 16):
        raise AtParseError("IMEI must be 14 to 16 digits", value)
    return Imei(value)


def parse_imsi(lines: Sequence[str]) -> Imsi:
    """AT+CIMI: a bare "234150123456789" (E.212: at most 15 digits), or "+CIMI: ..." on some firmware."""
    value = _only_text(lines, ("+CIMI:",))
    if not (value.isdigit() and 6 <= len(value) <= 15):
        raise AtParseError("IMSI must be 6 to 15 digits", value)
    return Imsi(value)


_PLAIN_ICCID_NAMES = frozenset({"+CCID", "+ICCID", "ICCID", "+QCCID", "#CCID", "+CICCID"})
_EF_ICCID_OK_SW1 = frozenset({0x90, 0x91, 0x92})  # ETSI TS 102 221 §10.2.1: normal ending


def parse_iccid(lines: Sequence[str]) -> Iccid:
    """The ICCID in every dialect we met.

    Plain: `+CCID: 8944...` (SIM7600 AT+CCID), `+ICCID:` (SIM7600 AT+CICCID), `+QCCID:` (EC25 AT+QCCID),
    bare digits (SIM800 AT+CCID). Swapped: `^ICCID: 9844...` (Huawei AT^ICCID?) and
    `+CRSM: 144,0,"9844..."` (AT+CRSM=176,12258,0,0,10 reads EF_ICCID, whose BCD digits are stored
    nibble-swapped with F filler: ETSI TS 102 221 §13.2).
    """
    line = next((line for line in lines if line.strip()), "")
    name = line_name(line).upper() if ":" in line else ""
    if name == "+CRSM":
        return _iccid_from_crsm(line)
    if name == "^ICCID":
        return _iccid_digits(_swap_nibbles(payload_of(line).strip('"')), line)
    if name in _PLAIN_ICCID_NAMES:
        return _iccid_digits(payload_of(line).strip('"'), line)
    if name:
        raise AtParseError("not an ICCID answer", line)
    return _iccid_digits(line.strip('"'), line)


def _iccid_from_crsm(line: str) -> Iccid:
    fields = split_fields(payload_of(line))
    sw1 = to_int(fields[0], line, "sw1")
    if sw1 not in _EF_ICCID_OK_SW1 or len(fields) < 3:
        raise AtParseError("EF_ICCID read failed", line)
    return _iccid_digits(_swap_nibbles(fields[2]), line)


def _swap_nibbles(hex_text: str) -> str:
    return "".join(hex_text[i + 1 : i + 2] + hex_text[i] for i in range(0, len(hex_text), 2))


def _iccid_digits(text: str, line: str) -> Iccid:
    digits = text.upper().rstrip("F")
    if not (digits.isdigit() and 18 <= len(digits) <= 20):
        raise AtParseError("ICCID must be 18 to 20 digits", line)
    return Iccid(digits)


@dataclass(frozen=True)
class OwnNumber:
    alpha: str | None
    number: str
    type: int | None  # TON/NPI, 145 = international (TS 24.008 §10.5.4.7)


@dataclass(frozen=True)
class OwnNumbers:
    entries: tuple[OwnNumber, ...]

    @property
    def number(self) -> str | None:
        """The first (voice line) number, the one people mean by "the SIM's number"."""
        return self.entries[0].number if self.entries else None


def parse_cnum(lines: Sequence[str]) -> OwnNumbers:
    """AT+CNUM: `+CNUM: "","+447700900123",145` per line; none when the SIM holds no MSISDN."""
    entries = []
    for line in lines:
        if line_name(line).upper() != "+CNUM":
            continue
        fields = split_fields(payload_of(line))
        if len(fields) < 2:
            raise AtParseError("+CNUM needs alpha and number", line)
        if fields[1]:
            entries.append(OwnNumber(fields[0] or None, fields[1], optional_int(fields, 2, line, "type")))
    return OwnNumbers(tuple(entries))


# -- SIM state ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimPinState:
    code: str  # TS 27.007 §8.3: READY, SIM PIN, SIM PUK, PH-SIM PIN, SIM PIN2, SIM PUK2, ...

    @property
    def ready(self) -> bool:
        return self.code == "READY"

    @property
    def needs_puk(self) -> bool:
        return "PUK" in self.code


def parse_cpin(lines: Sequence[str]) -> SimPinState:
    """AT+CPIN?: `+CPIN: READY`, `+CPIN: SIM PIN`, `+CPIN: NOT INSERTED` (SIM800/EC25 wording)."""
    line = find_line(lines, "+CPIN")
    code = payload_of(line).strip('"').upper()
    if not code:
        raise AtParseError("+CPIN without a state", line)
    return SimPinState(code)




# -- network --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalQuality:
    rssi: int  # as reported: 0..31, 99 unknown (TS 27.007 §8.5), 100..191 TD-SCDMA (SIM7600)
    ber: int | None  # 0..7, None when 99 (unknown)
    dbm: int | None
    percent: int | None  # 0..100 across the reported range; None when unknown


_RSSI_UNKNOWN = 99


def parse_csq(lines: Sequence[str]) -> SignalQuality:
    """AT+CSQ: `+CSQ: 21,99`. TS 27.007 §8.5: 0 → -113 dBm or less, 31 → -51 dBm or more, 2 dBm steps.

    SIM7600 (AT Command Manual v1.10 §5.2.5) also reports 100..191 for TD-SCDMA: 100 → -116 dBm, 191 → -25.
    """
    line = find_line(lines, "+CSQ")
    fields = split_fields(payload_of(line))
    if len(fields) != 2:
        raise AtParseError("+CSQ needs rssi,ber", line)
    rssi = to_int(fields[0], line, "rssi")
    ber = to_int(fields[1], line, "ber")
    if rssi == _RSSI_UNKNOWN:
        dbm = percent = None
    elif rssi <= 31:
        dbm, percent = -113 + 2 * rssi, round(rssi * 100 / 31)
    elif 100 <= rssi <= 191:
        dbm, percent = rssi - 216, round((rssi - 100) * 100 / 91)
    else:
        raise AtParseError("rssi out of range", line)
    if ber != _RSSI_UNKNOWN and ber > 7:
        raise AtParseError("ber out of range", line)
    return SignalQuality(rssi, None if ber == _RSSI_UNKNOWN else ber, dbm, percent)


# TS 27.007 §7.2 <stat>, shared by +CREG, +CGREG (§10.1.20) and +CEREG (§10.1.22).
REGISTRATION_STATUS_NAMES = (
    "not_registered",
    "registered_home",
    "searching",
    "denied",
    "unknown",
    "registered_roaming",
    "registered_sms_only_home",
    "registered_sms_only_roaming",
    "emergency_only",
    "registered_csfb_not_preferred_home",
    "registered_csfb_not_preferred_roaming",
)
_REGISTERED = frozenset({1, 5, 6, 7, 9, 10})


@dataclass(frozen=True)
class Registration:
    n: int | None  # the URC mode; None for a URC (which does not carry it)
    stat: int
    lac: int | None  # LAC for +CREG/+CGREG, TAC for +CEREG
    ci: int | None
    act: int | None  # access technology, TS 27.007 §7.3 (0 GSM, 2 UTRAN, 7 E-UTRAN, ...)

    @property
    def status_name(self) -> str:
        if 0 <= self.stat < len(REGISTRATION_STATUS_NAMES):
            return REGISTRATION_STATUS_NAMES[self.stat]
        return f"stat_{self.stat}"

    @property
    def registered(self) -> bool:
        return self.stat in _REGISTERED


def _parse_registration(lines: Sequence[str], name: str) -> Registration:
    """`<name>: <n>,<stat>[,<lac>,<ci>[,<AcT>...]]`, the answer to AT<name>?."""
    line = find_line(lines, name)
    fields = split_fields(payload_of(line))
    if len(fields) < 2:
        raise AtParseError(f"{name} needs n,stat", line)
    return Registration(
        n=to_int(fields[0], line, "n"),
        stat=to_int(fields[1], line, "stat"),
        lac=optional_hex(fields, 2, line, "lac"),
        ci=optional_hex(fields, 3, line, "ci"),
        act=optional_int(fields, 4, line, "AcT"),
    )


def parse_creg(lines: Sequence[str]) -> Registration:
    """AT+CREG?: `+CREG: 0,1` or `+CREG: 2,1,"1A2B","00C3D4E5",7`."""
    return _parse_registration(lines, "+CREG")


def parse_cgreg(lines: Sequence[str]) -> Registration:
    """AT+CGREG?: `+CGREG: 2,1,"1A2B","01A2B3C4",2,"00"`."""
    return _parse_registration(lines, "+CGREG")


def parse_cereg(lines: Sequence[str]) -> Registration:
    """AT+CEREG?: `+CEREG: 2,1,"0D2F","01A2B3C4",7` (the third field is the TAC)."""
    return _parse_registration(lines, "+CEREG")


def parse_registration_urc(line: str) -> Registration:
    """The URC form, without <n>: `+CREG: 1` or `+CEREG: 5,"0D2F","01A2B3C4",7`."""
    name = line_name(line).upper()
    if name not in {"+CREG", "+CGREG", "+CEREG", "+C5GREG"}:
        raise AtParseError("not a registration URC", line)
    fields = split_fields(payload_of(line))
    return Registration(
        n=None,
        stat=to_int(fields[0], line, "stat"),
        lac=optional_hex(fields, 1, line, "lac"),
        ci=optional_hex(fields, 2, line, "ci"),
        act=optional_int(fields, 3, line, "AcT"),
    )


@dataclass(frozen=True)
class Operator:
    mode: int  # 0 automatic, 1 manual, 2 deregistered, ... (TS 27.007 §7.3)
    format: int | None  # 0 long alphanumeric, 1 short, 2 numeric MCC+MNC
    name: str | None
    act: int | None


def parse_cops(lines: Sequence[str]) -> Operator:
    """AT+COPS?: `+COPS: 0,0,"Vodafone UK",7`, or `+COPS: 0` with no network."""
    line = find_line(lines, "+COPS")
    fields = split_fields(payload_of(line))
    name = fields[2] if len(fields) > 2 and fields[2] else None
    return Operator(
        mode=to_int(fields[0], line, "mode"),
        format=optional_int(fields, 1, line, "format"),
        name=name,
        act=optional_int(fields, 3, line, "AcT"),
    )

