"""Builders and pure parsers for SMS storage and sending in PDU mode (3GPP TS 27.005 §3-§4).

Re-exported by commands.py. No I/O, no PDU decoding (that is gatewayd.sms): PDUs stay hex strings here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gatewayd.at.events import AtCommand
from gatewayd.at.grammar import AtParseError, fields_of, find_line, payload_of, split_fields, to_int
from gatewayd.at.urc import line_name, looks_like_pdu

SEND_TIMEOUT_S = 60.0  # AT+CMGS waits for the network: SIM800 and EC25 manuals give 60 s maximum
LIST_TIMEOUT_S = 30.0  # AT+CMGL over a full SIM (tens of PDUs at 115200 baud, slow SIM reads)

# TS 27.005 §3.1 <stat> in PDU mode; a few firmwares answer with the text-mode words even in PDU mode.
MESSAGE_STAT_BY_WORD = {"REC UNREAD": 0, "REC READ": 1, "STO UNSENT": 2, "STO SENT": 3, "ALL": 4}


# -- storage --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryUsage:
    memory: str | None  # "SM", "ME", "MT", "SR"...; None in the AT+CPMS= answer, which omits names
    used: int
    total: int


@dataclass(frozen=True)
class MessageStorage:
    read: MemoryUsage  # <mem1>: read and delete
    write: MemoryUsage  # <mem2>: write and send
    receive: MemoryUsage  # <mem3>: where received messages are stored (the one that fills up)


def parse_cpms(lines: Sequence[str]) -> MessageStorage:
    """AT+CPMS? `+CPMS: "SM",3,30,"SM",3,30,"SM",3,30` or the AT+CPMS= answer `+CPMS: 3,30,3,30,3,30`."""
    line = find_line(lines, "+CPMS")
    fields = split_fields(payload_of(line))
    named = bool(fields) and not fields[0].isdigit()
    width = 3 if named else 2
    if len(fields) != 3 * width:
        raise AtParseError("+CPMS needs three memories", line)
    usages = []
    for start in range(0, len(fields), width):
        group = fields[start : start + width]
        memory = group[0] if named else None
        used = to_int(group[-2], line, "used")
        total = to_int(group[-1], line, "total")
        if used > total:
            raise AtParseError("used exceeds total", line)
        usages.append(MemoryUsage(memory, used, total))
    return MessageStorage(*usages)


# -- reading --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListedMessage:
    index: int
    stat: int  # 0 received unread, 1 received read, 2 stored unsent, 3 stored sent
    alpha: str | None
    length: int  # TPDU octets, without the SMSC part (TS 27.005 §3.1 <length>)
    pdu: str  # hex, SMSC part included

    @property
    def length_matches(self) -> bool:
        return _length_matches(self.pdu, self.length)


@dataclass(frozen=True)
class StoredMessage:
    stat: int
    alpha: str | None
    length: int
    pdu: str

    @property
    def length_matches(self) -> bool:
        return _length_matches(self.pdu, self.length)


def _length_matches(pdu: str, length: int) -> bool:
    smsc_octets = int(pdu[:2], 16) if len(pdu) >= 2 else 0
    return len(pdu) // 2 == 1 + smsc_octets + length


def parse_cmgl(lines: Sequence[str]) -> tuple[ListedMessage, ...]:
    """AT+CMGL=<stat> in PDU mode: per message `+CMGL: <index>,<stat>,[<alpha>],<length>`, then the PDU."""
    listed = []
    position = 0
    while position < len(lines):
        header = lines[position]
        if line_name(header).upper() != "+CMGL":
            raise AtParseError("expected a +CMGL header", header)
        fields = split_fields(payload_of(header))
        if len(fields) < 4:
            raise AtParseError("+CMGL needs index,stat,alpha,length", header)
        pdu = _pdu_after(lines, position, header)
        listed.append(
            ListedMessage(
                index=to_int(fields[0], header, "index"),
                stat=_stat(fields[1], header),
                alpha=fields[2] or None,
                length=to_int(fields[-1], header, "length"),
                pdu=pdu,
            )
        )
        position += 2
    return tuple(listed)


def parse_cmgr(lines: Sequence[str]) -> StoredMessage | None:
    """AT+CMGR=<index>: `+CMGR: <stat>,[<alpha>],<length>` then the PDU; None for an empty slot.

    An empty slot is a bare "OK" on most firmware; some answer `+CMGR: 0,,0` with no PDU line.
    """
    if not lines:
        return None
    header = find_line(lines, "+CMGR")
    fields = split_fields(payload_of(header))
    if len(fields) < 3:
        raise AtParseError("+CMGR needs stat,alpha,length", header)
    length = to_int(fields[-1], header, "length")
    position = list(lines).index(header)
    if length == 0 and position + 1 >= len(lines):
        return None
    pdu = _pdu_after(lines, position, header)
    return StoredMessage(_stat(fields[0], header), fields[1] or None, length, pdu)


def _pdu_after(lines: Sequence[str], position: int, header: str) -> str:
    if position + 1 >= len(lines) or not looks_like_pdu(lines[position + 1]):
        raise AtParseError("header without a PDU line after it", header)
    return lines[position + 1].upper()


def _stat(text: str, line: str) -> int:
    if text.upper() in MESSAGE_STAT_BY_WORD:
        return MESSAGE_STAT_BY_WORD[text.upper()]
    return to_int(text, line, "stat")


# -- sending --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitResult:
    mr: int  # TP-Message-Reference, 0..255: what the +CDS status report will name
    ackpdu: str | None


def parse_cmgs(lines: Sequence[str]) -> SubmitResult:
    """AT+CMGS in PDU mode: `+CMGS: <mr>[,<ackpdu>]` (TS 27.005 §3.5.1)."""
    line = find_line(lines, "+CMGS")
    fields = split_fields(payload_of(line))
    mr = to_int(fields[0], line, "mr")
    if mr > 255:
        raise AtParseError("mr out of range 0..255", line)
    ackpdu = fields[1] if len(fields) > 1 and fields[1] else None
    return SubmitResult(mr, ackpdu)


# -- indications ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StorageIndication:
    memory: str  # "SM", "ME", "MT", "SR"
    index: int


def parse_cmti(line: str) -> StorageIndication:
    """`+CMTI: "SM",3` (or just its payload `"SM",3`): a new message stored at index 3 (TS 27.005 §3.4.1)."""
    return _storage_indication(line, "+CMTI")


def parse_cdsi(line: str) -> StorageIndication:
    """`+CDSI: "SR",5`: a status report stored at index 5 (TS 27.005 §3.4.1)."""
    return _storage_indication(line, "+CDSI")


def _storage_indication(line: str, name: str) -> StorageIndication:
    fields = fields_of(line, name) if ":" in line else split_fields(line)
    if len(fields) != 2 or not fields[0]:
        raise AtParseError(f"{name} needs mem,index", line)
    return StorageIndication(fields[0], to_int(fields[1], line, "index"))


# -- builders -------------------------------------------------------------------------------------------
def build_cmgf_pdu() -> AtCommand:
    return AtCommand("AT+CMGF=0")


def build_cnmi(mode: int = 2, mt: int = 1, bm: int = 0, ds: int = 1, bfr: int = 0) -> AtCommand:
    """AT+CNMI (TS 27.005 §3.4.1). The default asks for +CMTI per stored message and +CDS reports."""
    limits = (("mode", mode, 3), ("mt", mt, 3), ("bm", bm, 3), ("ds", ds, 2), ("bfr", bfr, 1))
    for name, value, highest in limits:
        if not 0 <= value <= highest:
            raise ValueError(f"AT+CNMI {name}={value} outside 0..{highest}")
    return AtCommand(f"AT+CNMI={mode},{mt},{bm},{ds},{bfr}")


def build_cpms(read: str, write: str | None = None, receive: str | None = None) -> AtCommand:
    memories = [memory for memory in (read, write, receive) if memory is not None]
    for memory in memories:
        if not (memory.isalnum() and memory.isascii()):
            raise ValueError(f"AT+CPMS memory {memory!r} is not a storage name")
    return AtCommand("AT+CPMS=" + ",".join(f'"{memory}"' for memory in memories))


def build_cmgl(stat: int = 4, timeout_s: float = LIST_TIMEOUT_S) -> AtCommand:
    if not 0 <= stat <= 4:
        raise ValueError(f"AT+CMGL stat {stat} outside 0..4")
    return AtCommand(f"AT+CMGL={stat}", timeout_s=timeout_s)


def build_cmgr(index: int) -> AtCommand:
    if index < 0:
        raise ValueError(f"AT+CMGR index {index} is negative")
    return AtCommand(f"AT+CMGR={index}")


def build_cmgd(index: int, delflag: int = 0) -> AtCommand:
    if index < 0 or not 0 <= delflag <= 4:
        raise ValueError(f"AT+CMGD={index},{delflag} out of range")
    return AtCommand(f"AT+CMGD={index},{delflag}" if delflag else f"AT+CMGD={index}")


def build_cmgs(pdu: str, timeout_s: float = SEND_TIMEOUT_S) -> AtCommand:
    """AT+CMGS=<length> with the PDU (SMSC part included) as payload; <length> counts TPDU octets only."""
    if not looks_like_pdu(pdu):
        raise ValueError(f"PDU is not an even-length hex string: {pdu!r}")
    smsc_octets = int(pdu[:2], 16)
    tpdu_octets = len(pdu) // 2 - 1 - smsc_octets
    if tpdu_octets <= 0:
        raise ValueError(f"PDU has no TPDU after its {smsc_octets}-octet SMSC part: {pdu!r}")
    return AtCommand(f"AT+CMGS={tpdu_octets}", timeout_s=timeout_s, payload=pdu.upper())
