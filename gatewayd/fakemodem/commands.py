"""The emulated modem's command table: one small handler per (command, kind), returning information lines.

Handlers act on the FakeModem through its public methods and raise AtError subclasses for failures; they do no
framing (modem.py frames). A new command is a function plus a table row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gatewayd.fakemodem.commandline import Command, CommandKind
from gatewayd.fakemodem.dialect import EmptyReadAnswer
from gatewayd.fakemodem.errors import CmeError, CmsError
from gatewayd.fakemodem.storage import DeleteFlag, MessageStatus, StorageIndexError

if TYPE_CHECKING:
    from gatewayd.fakemodem.modem import FakeModem

Handler = Callable[["FakeModem", Command], list[str]]

SERVICE_CENTRE = "+491710760000"  # any well-formed SMSC number; +CSCA only reports it
_MAX_SUBMIT_TPDU_OCTETS = 164  # TS 23.040 §9.2.2.2: at most 7 + 12 + 1 + 1 + 1 + 1 + 140 octets


@dataclass(frozen=True)
class ModemSettings:
    """Volatile settings that ATZ, AT&F and a reboot restore."""

    echo: bool = True
    cmee: int = 0
    message_format: int = 0  # AT+CMGF: 0 PDU, 1 text
    new_message_indication: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # AT+CNMI mode,mt,bm,ds,bfr
    registration_reports: int = 0  # AT+CREG=<n>
    functionality: int = 1  # AT+CFUN

    @property
    def mt(self) -> int:
        return self.new_message_indication[1]


def tpdu_length(pdu_hex: str) -> int:
    """Octets after the SMSC prefix: the `<length>` of +CMGL/+CMGR/+CMT and of AT+CMGS (TS 27.005 §3.1)."""
    smsc_octets = int(pdu_hex[:2], 16)
    return len(pdu_hex) // 2 - 1 - smsc_octets


def int_argument(command: Command, position: int, allowed: range, default: int | None = None) -> int:
    """Argument `position` as an int in `allowed`; +CME ERROR: 50 (incorrect parameters) otherwise."""
    raw = command.args[position] if position < len(command.args) else ""
    if raw == "":
        if default is None:
            raise CmeError(50)
        return default
    if not raw.isdigit() or int(raw) not in allowed:
        raise CmeError(50)
    return int(raw)


def find_handler(modem: FakeModem, command: Command) -> Handler | None:
    prefix = modem.dialect.iccid_commands.get(command.name)
    if prefix is not None and command.kind in (CommandKind.EXECUTE, CommandKind.QUERY):
        return lambda m, _: [prefix + m.identity.iccid]
    if command.name in modem.dialect.accepted_commands:
        return _ok
    return COMMAND_TABLE.get((command.name, command.kind))


# --- V.250 basic commands --------------------------------------------------------------------------


def _echo(modem: FakeModem, command: Command) -> list[str]:
    modem.update_settings(echo=bool(int_argument(command, 0, range(2), default=0)))
    return []


def _reset(modem: FakeModem, command: Command) -> list[str]:
    int_argument(command, 0, range(1), default=0)
    modem.reset_settings()
    return []


def _verbose(modem: FakeModem, command: Command) -> list[str]:
    # Only verbose result codes are emulated; ATV0 (numeric codes) is refused rather than faked.
    int_argument(command, 0, range(1, 2), default=1)
    return []


def _information(modem: FakeModem, command: Command) -> list[str]:
    return [modem.identity.model, modem.identity.revision]


def _ok(modem: FakeModem, command: Command) -> list[str]:
    return []


# --- TS 27.007 general and network ------------------------------------------------------------------


def _cmee_set(modem: FakeModem, command: Command) -> list[str]:
    modem.update_settings(cmee=int_argument(command, 0, range(3), default=0))
    return []


def _creg_set(modem: FakeModem, command: Command) -> list[str]:
    modem.update_settings(registration_reports=int_argument(command, 0, range(3), default=0))
    return []


def _creg_query(modem: FakeModem, command: Command) -> list[str]:
    mode = modem.settings.registration_reports
    stat = modem.registration if modem.settings.functionality == 1 else 0
    location = ',"1A2B","01C3"' if mode == 2 and stat in (1, 5) else ""
    return [f"+CREG: {mode},{stat}{location}"]


def _cops_query(modem: FakeModem, command: Command) -> list[str]:
    if modem.settings.functionality != 1 or modem.registration not in (1, 5):
        return ["+COPS: 0"]
    return [f'+COPS: 0,0,"{modem.identity.operator}"']


def _cfun_set(modem: FakeModem, command: Command) -> list[str]:
    level = int_argument(command, 0, range(5))
    if level not in (0, 1, 4):
        raise CmeError(50)
    if int_argument(command, 1, range(2), default=0):
        modem.request_reboot()  # AT+CFUN=1,1: answer OK, then restart (the RDY lines follow)
    modem.update_settings(functionality=level)
    return []


def _cfun_query(modem: FakeModem, command: Command) -> list[str]:
    return [f"+CFUN: {modem.settings.functionality}"]


# --- SIM PIN (TS 27.007 §8.3) and the vendors' attempt counters (hardware/modems/*.toml [pin_attempts]) ---

# Commands a locked SIM refuses with +CME ERROR 11/12: they read or write the SIM.
SIM_COMMANDS = frozenset({"+CIMI", "+CNUM", "+CPMS", "+CMGL", "+CMGR", "+CMGD", "+CMGS", "+CSCA"})


def _cpin_set(modem: FakeModem, command: Command) -> list[str]:
    if not 1 <= len(command.args) <= 2:
        raise CmeError(50)
    modem.sim_lock.enter(list(command.args))
    return []


def _pin_counters(modem: FakeModem) -> tuple[int, int]:
    return modem.sim_lock.pin_left, modem.sim_lock.puk_left


def _cpinr(modem: FakeModem, command: Command) -> list[str]:
    # TS 27.007 §8.65: +CPINR: <code>,<retries>,<default retries>
    pin, puk = _pin_counters(modem)
    return [f"+CPINR: SIM PIN,{pin},3", f"+CPINR: SIM PUK,{puk},10"]


def _spic(modem: FakeModem, command: Command) -> list[str]:
    pin, puk = _pin_counters(modem)  # SIM800 manual §18.2.7: +SPIC: <pin1>,<puk1>,<pin2>,<puk2>
    return [f"+SPIC: {pin},{puk},3,10"]


def _qpinc(modem: FakeModem, command: Command) -> list[str]:
    pin, puk = _pin_counters(modem)  # Quectel EC25 AT manual: +QPINC: "SC",<pincounter>,<pukcounter>
    return [f'+QPINC: "SC",{pin},{puk}']


def _huawei_cpin(modem: FakeModem, command: Command) -> list[str]:
    # Huawei AT reference ^CPIN: <code>,[<times>],<puk_times>,<pin_times>,<puk2_times>,<pin2_times>
    pin, puk = _pin_counters(modem)
    code = modem.sim_lock.code
    times = pin if code == "SIM PIN" else puk if code == "SIM PUK" else ""
    return [f"^CPIN: {code},{times},{puk},{pin},10,3"]


def _cpinc(modem: FakeModem, command: Command) -> list[str]:
    pin, puk = _pin_counters(modem)  # Wavecom: +CPINC: <pin1>,<pin2>,<puk1>,<puk2>
    return [f"+CPINC: {pin},3,{puk},10"]


# --- TS 27.005 SMS -------------------------------------------------------------------------------------


def _require_pdu_mode(modem: FakeModem) -> None:
    # Text mode is accepted by AT+CMGF=1 but not emulated: refuse instead of answering wrongly.
    if modem.settings.message_format != 0:
        raise CmsError(302)


def _cmgf_set(modem: FakeModem, command: Command) -> list[str]:
    modem.update_settings(message_format=int_argument(command, 0, range(2), default=0))
    return []


def _cnmi_set(modem: FakeModem, command: Command) -> list[str]:
    limits = (range(4), range(4), range(4), range(3), range(2))
    if not 1 <= len(command.args) <= len(limits):
        raise CmeError(50)
    current = modem.settings.new_message_indication
    values = tuple(int_argument(command, i, limits[i], default=current[i]) for i in range(len(limits)))
    modem.update_settings(new_message_indication=values)
    return []


def _cnmi_query(modem: FakeModem, command: Command) -> list[str]:
    return ["+CNMI: " + ",".join(str(v) for v in modem.settings.new_message_indication)]


def _cpms_report(modem: FakeModem, memories: tuple[str, ...]) -> str:
    return ",".join(f'"{m}",{modem.storage_used},{modem.storage_total}' for m in memories)


def _cpms_set(modem: FakeModem, command: Command) -> list[str]:
    if not 1 <= len(command.args) <= 3:
        raise CmeError(50)
    if any(memory.upper() not in modem.dialect.memories for memory in command.args):
        raise CmsError(302)
    used, total = modem.storage_used, modem.storage_total
    return ["+CPMS: " + ",".join(f"{used},{total}" for _ in range(3))]


def _cpms_query(modem: FakeModem, command: Command) -> list[str]:
    return ["+CPMS: " + _cpms_report(modem, (modem.dialect.memories[0],) * 3)]


def _cpms_test(modem: FakeModem, command: Command) -> list[str]:
    choice = "(" + ",".join(f'"{m}"' for m in modem.dialect.memories) + ")"
    return [f"+CPMS: {choice},{choice},{choice}"]


def _cmgl(modem: FakeModem, command: Command) -> list[str]:
    _require_pdu_mode(modem)
    stat = int_argument(command, 0, range(5), default=0)
    lines: list[str] = []
    for message in modem.sim.list(None if stat == 4 else MessageStatus(stat)):
        lines += [f"+CMGL: {message.index},{int(message.status)},,{tpdu_length(message.pdu)}", message.pdu]
    return lines


def _cmgr(modem: FakeModem, command: Command) -> list[str]:
    _require_pdu_mode(modem)
    index = int_argument(command, 0, range(0, 100_000))
    try:
        message = modem.sim.read(index)
    except StorageIndexError:
        raise CmsError(321) from None  # TS 27.005 §3.2.5 "invalid memory index"
    if message is None:
        if modem.dialect.empty_read is EmptyReadAnswer.INVALID_INDEX:
            raise CmsError(321)
        return []
    return [f"+CMGR: {int(message.status)},,{tpdu_length(message.pdu)}", message.pdu]


def _cmgd(modem: FakeModem, command: Command) -> list[str]:
    index = int_argument(command, 0, range(0, 100_000))
    flag = DeleteFlag(int_argument(command, 1, range(5), default=0))
    before = modem.sim.snapshot() if modem.on_deleted is not None else ()
    try:
        modem.sim.delete(index, flag)
    except StorageIndexError:
        raise CmsError(321) from None
    if modem.on_deleted is not None:
        remaining = {message.index for message in modem.sim.snapshot()}
        for message in before:
            if message.index not in remaining:
                modem.on_deleted(message)
    modem.drain_network_queue()
    return []


def _cmgs(modem: FakeModem, command: Command) -> list[str]:
    _require_pdu_mode(modem)
    length = int_argument(command, 0, range(1, _MAX_SUBMIT_TPDU_OCTETS + 1))
    if modem.settings.functionality != 1 or modem.registration not in (1, 5):
        raise CmsError(331)  # TS 27.005 §3.2.5 "no network service"
    modem.begin_pdu_entry(length)
    return []


_EXECUTE, _QUERY, _SET, _TEST = CommandKind.EXECUTE, CommandKind.QUERY, CommandKind.SET, CommandKind.TEST

def _with_test_forms(table: dict[tuple[str, CommandKind], Handler]) -> dict[tuple[str, CommandKind], Handler]:
    """Every supported extended command also answers its test form "=?" with OK (V.250 §5.3)."""
    extended = {name for name, _ in table if name.startswith("+")}
    return {**{(name, _TEST): _ok for name in extended}, **table}


COMMAND_TABLE: Mapping[tuple[str, CommandKind], Handler] = _with_test_forms({
    ("E", _EXECUTE): _echo,
    ("E", _SET): _echo,
    ("Z", _EXECUTE): _reset,
    ("Z", _SET): _reset,
    ("&F", _EXECUTE): _reset,
    ("&F", _SET): _reset,
    ("V", _SET): _verbose,
    ("I", _EXECUTE): _information,
    ("+CMEE", _SET): _cmee_set,
    ("+CMEE", _QUERY): lambda m, _: [f"+CMEE: {m.settings.cmee}"],
    ("+CGMI", _EXECUTE): lambda m, _: [m.identity.manufacturer],
    ("+CGMM", _EXECUTE): lambda m, _: [m.identity.model],
    ("+CGMR", _EXECUTE): lambda m, _: [m.identity.revision],
    ("+CGSN", _EXECUTE): lambda m, _: [m.identity.imei],
    ("+CIMI", _EXECUTE): lambda m, _: [m.identity.imsi],
    ("+CNUM", _EXECUTE): lambda m, _: [f'+CNUM: "","{m.identity.phone_number}",145'],
    ("+CSQ", _EXECUTE): lambda m, _: [f"+CSQ: {m.signal_rssi},0"],
    ("+CREG", _SET): _creg_set,
    ("+CREG", _QUERY): _creg_query,
    ("+COPS", _QUERY): _cops_query,
    ("+CPIN", _QUERY): lambda m, _: [f"+CPIN: {m.sim_lock.code}"],
    ("+CPIN", _SET): _cpin_set,
    ("+CPINR", _SET): _cpinr,
    ("+CPINR", _EXECUTE): _cpinr,
    ("+SPIC", _EXECUTE): _spic,
    ("+QPINC", _SET): _qpinc,
    ("^CPIN", _QUERY): _huawei_cpin,
    ("+CPINC", _EXECUTE): _cpinc,
    ("+CSCA", _QUERY): lambda m, _: [f'+CSCA: "{SERVICE_CENTRE}",145'],
    ("+CFUN", _SET): _cfun_set,
    ("+CFUN", _QUERY): _cfun_query,
    ("+CMGF", _SET): _cmgf_set,
    ("+CMGF", _QUERY): lambda m, _: [f"+CMGF: {m.settings.message_format}"],
    ("+CNMI", _SET): _cnmi_set,
    ("+CNMI", _QUERY): _cnmi_query,
    ("+CPMS", _SET): _cpms_set,
    ("+CPMS", _QUERY): _cpms_query,
    ("+CPMS", _TEST): _cpms_test,
    ("+CMGL", _EXECUTE): _cmgl,
    ("+CMGL", _SET): _cmgl,
    ("+CMGR", _SET): _cmgr,
    ("+CMGD", _SET): _cmgd,
    ("+CMGS", _SET): _cmgs,
    # TS 27.005 §3.2.1 / §3.4.4: phase 2+ service and the acknowledgement of a routed +CMT/+CDS. The
    # network's resend after a missing ack is not emulated; tests count AT+CNMA through commands_seen.
    ("+CSMS", _SET): lambda m, c: ["+CSMS: 1,1,1"],
    ("+CSMS", _QUERY): lambda m, _: ["+CSMS: 1,1,1,1"],
    ("+CNMA", _EXECUTE): _ok,
})
"""Every (command, kind) the modem understands; anything else answers ERROR / +CME ERROR: 100."""
