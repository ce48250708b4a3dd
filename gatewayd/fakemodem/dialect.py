"""How emulated modems differ: vendor dialects and injectable faults, as plain data the FakeModem reads.

Data only; behaviour lives in modem.py. A new vendor quirk or fault should be a new field here, not a branch
on a vendor name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType


class EmptyReadAnswer(Enum):
    """What AT+CMGR on an empty (in-range) index answers; firmware differs."""

    OK = "ok"  # SIMCom SIM800: a bare OK
    INVALID_INDEX = "cms321"  # others: +CMS ERROR: 321 (TS 27.005 §3.2.5 "invalid memory index")


@dataclass(frozen=True)
class ModemDialect:
    name: str = "simcom-sim800"
    # Command → prefix of its answer line. Quectel answers AT+QCCID with "+QCCID: ", Huawei AT^ICCID?
    # with "^ICCID: " (vendor AT manuals); we accept each listed command both bare and as a query.
    iccid_commands: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"+CCID": "+CCID: "})
    )
    storage_first_index: int = 1
    memories: tuple[str, ...] = ("SM",)
    empty_read: EmptyReadAnswer = EmptyReadAnswer.OK
    # Unsolicited lines printed after power-up (SIM800 Series AT Command Manual: "RDY" … "SMS Ready").
    boot_lines: tuple[str, ...] = ("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready")
    # Vendor URC chatter the daemon must route away from responses (field-lessons.md #3: Huawei ^RSSI).
    noise_lines: tuple[str, ...] = ()
    # Vendor set-up commands (a profile's init_commands) the modem accepts with a bare OK: Quectel
    # AT+QURCCFG/AT+QINDCFG, Huawei AT^CURC (vendor AT manuals); their effect is not emulated.
    accepted_commands: frozenset[str] = frozenset()


SIMCOM_SIM800 = ModemDialect()

QUECTEL_EC25 = ModemDialect(
    name="quectel-ec25",
    iccid_commands=MappingProxyType({"+CCID": "+CCID: ", "+QCCID": "+QCCID: "}),
    memories=("ME", "SM", "MT"),  # EC25 AT manual +CPMS; our profile keeps SMS in ME (field lesson 5)
    boot_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
    noise_lines=('+QIND: "csq",20,99',),
    accepted_commands=frozenset({"+QURCCFG", "+QINDCFG", "+QCFG"}),
)

HUAWEI_E3372 = ModemDialect(
    name="huawei-e3372",
    iccid_commands=MappingProxyType({"^ICCID": "^ICCID: "}),
    storage_first_index=0,
    empty_read=EmptyReadAnswer.INVALID_INDEX,
    boot_lines=("^BOOT:20952732,0,0,0,75", "^SIMST: 1"),
    noise_lines=("^RSSI: 17", "^MODE: 5,4", "^HCSQ: \"LTE\",45,39,161,22"),
    accepted_commands=frozenset({"^CURC", "^STSF"}),
)

DIALECTS: Mapping[str, ModemDialect] = MappingProxyType(
    {d.name: d for d in (SIMCOM_SIM800, QUECTEL_EC25, HUAWEI_E3372)}
)


@dataclass(frozen=True)
class ModemFaults:
    """Misbehaviour switched on per modem at run time (`modem.faults = ModemFaults(...)`)."""

    # The modem swallows every byte and answers nothing, as a hung Huawei does (field-lessons.md #2).
    mute: bool = False
    # Bytes put before every answer: line noise, a half-written URC, non-UTF-8 junk (field-lessons.md #9).
    garbage_before_reply: bytes = b""
    # Command name (e.g. "+CMGS") → +CMS ERROR code it answers instead of doing anything.
    command_errors: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


NO_FAULTS = ModemFaults()
