"""+CMS / +CME error numbers → meaning, and whether a +CMS error on sending is worth retrying.

Data only (3GPP TS 27.005 §3.2.5, TS 24.011 Table 8.4, TS 23.040 §9.2.3.22, TS 27.007 §9.2); no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType

# TS 27.005 §3.2.5: 0...127 are RP-cause values (TS 24.011 Annex E-2 / Table 8.4), 128...255 are
# TP-Failure-Cause values (TS 23.040 §9.2.3.22), 300... are the TA's own, 512... manufacturer specific.
CMS_ERRORS: Mapping[int, str] = MappingProxyType(
    {
        1: "Unassigned (unallocated) number",
        8: "Operator determined barring",
        10: "Call barred",
        21: "Short message transfer rejected",
        22: "Memory capacity exceeded",
        27: "Destination out of service",
        28: "Unidentified subscriber",
        29: "Facility rejected",
        30: "Unknown subscriber",
        38: "Network out of order",
        41: "Temporary failure",
        42: "Congestion",
        47: "Resources unavailable, unspecified",
        50: "Requested facility not subscribed",
        69: "Requested facility not implemented",
        81: "Invalid short message transfer reference value",
        95: "Invalid message, unspecified",
        96: "Invalid mandatory information",
        97: "Message type non-existent or not implemented",
        98: "Message not compatible with short message protocol state",
        99: "Information element non-existent or not implemented",
        111: "Protocol error, unspecified",
        127: "Interworking, unspecified",
        128: "Telematic interworking not supported",
        129: "Short message Type 0 not supported",
        130: "Cannot replace short message",
        143: "Unspecified TP-PID error",
        144: "Data coding scheme (alphabet) not supported",
        145: "Message class not supported",
        159: "Unspecified TP-DCS error",
        160: "Command cannot be actioned",
        161: "Command unsupported",
        175: "Unspecified TP-Command error",
        176: "TPDU not supported",
        192: "SC busy",
        193: "No SC subscription",
        194: "SC system failure",
        195: "Invalid SME address",
        196: "Destination SME barred",
        197: "SM Rejected-Duplicate SM",
        198: "TP-VPF not supported",
        199: "TP-VP not supported",
        208: "(U)SIM SMS storage full",
        209: "No SMS storage capability in (U)SIM",
        210: "Error in MS",
        211: "Memory capacity exceeded",
        212: "(U)SIM Application Toolkit busy",
        213: "(U)SIM data download error",
        255: "Unspecified error cause",
        300: "ME failure",
        301: "SMS service of ME reserved",
        302: "Operation not allowed",
        303: "Operation not supported",
        304: "Invalid PDU mode parameter",
        305: "Invalid text mode parameter",
        310: "(U)SIM not inserted",
        311: "(U)SIM PIN required",
        312: "PH-(U)SIM PIN required",
        313: "(U)SIM failure",
        314: "(U)SIM busy",
        315: "(U)SIM wrong",
        316: "(U)SIM PUK required",
        317: "(U)SIM PIN2 required",
        318: "(U)SIM PUK2 required",
        320: "Memory failure",
        321: "Invalid memory index",
        322: "Memory full",
        330: "SMSC address unknown",
        331: "No network service",
        332: "Network timeout",
        340: "No +CNMA acknowledgement expected",
        500: "Unknown error",
    }
)

# TS 27.007 §9.2.1 (general) and §9.2.2 (GPRS/packet domain).
CME_ERRORS: Mapping[int, str] = MappingProxyType(
    {
        0: "Phone failure",
        1: "No connection to phone",
        2: "Phone-adaptor link reserved",
        3: "Operation not allowed",
        4: "Operation not supported",
        5: "PH-SIM PIN required",
        6: "PH-FSIM PIN required",
        7: "PH-FSIM PUK required",
        10: "SIM not inserted",
        11: "SIM PIN required",
        12: "SIM PUK required",
        13: "SIM failure",
        14: "SIM busy",
        15: "SIM wrong",
        16: "Incorrect password",
        17: "SIM PIN2 required",
        18: "SIM PUK2 required",
        20: "Memory full",
        21: "Invalid index",
        22: "Not found",
        23: "Memory failure",
        24: "Text string too long",
        25: "Invalid characters in text string",
        26: "Dial string too long",
        27: "Invalid characters in dial string",
        30: "No network service",
        31: "Network timeout",
        32: "Network not allowed - emergency calls only",
        40: "Network personalization PIN required",
        41: "Network personalization PUK required",
        42: "Network subset personalization PIN required",
        43: "Network subset personalization PUK required",
        44: "Service provider personalization PIN required",
        45: "Service provider personalization PUK required",
        46: "Corporate personalization PIN required",
        47: "Corporate personalization PUK required",
        48: "Hidden key required",
        49: "EAP method not supported",
        50: "Incorrect parameters",
        100: "Unknown",
        103: "Illegal MS",
        106: "Illegal ME",
        107: "GPRS services not allowed",
        111: "PLMN not allowed",
        112: "Location area not allowed",
        113: "Roaming not allowed in this location area",
        132: "Service option not supported",
        133: "Requested service option not subscribed",
        134: "Service option temporarily out of order",
        148: "Unspecified GPRS error",
        149: "PDP authentication failure",
        150: "Invalid mobile class",
    }
)


class SendFailureKind(enum.Enum):
    """What a failed AT+CMGS means for the outgoing message."""

    TRANSIENT = "transient"  # try again later (network, SIM or SC momentarily unable)
    PERMANENT = "permanent"  # the same PDU to the same number will fail again: give up and report


# RP causes 38/41/42/47 are the "temporary" class of TS 24.011 Table 8.4; 27 is a destination that is
# momentarily unreachable. 192/194/212 are busy/failure states of the SC or SIM (TS 23.040 §9.2.3.22).
# 300/314/331/332 are the TA's own "try later" states (TS 27.005 §3.2.5). 500 is "unknown": field modems
# (SIM800, EC25) report it for radio-level failures that clear on retry, so it is retried, boundedly.
_TRANSIENT_SEND_CMS = frozenset({27, 38, 41, 42, 47, 192, 194, 212, 300, 314, 331, 332, 500})


def classify_send_failure(cms: int | None) -> SendFailureKind:
    """Transient or permanent, for a +CMS error answering AT+CMGS/AT+CMSS.

    Listed causes that are not transient are permanent (bad number, barring, malformed PDU, missing SIM or
    SMSC...). An unlisted code (manufacturer-specific, >= 512) or a bare ERROR (None) is treated as
    transient so the outbox's bounded retry decides, rather than dropping a message on an unknown reason.
    """
    if cms is None or cms not in CMS_ERRORS:
        return SendFailureKind.TRANSIENT
    return SendFailureKind.TRANSIENT if cms in _TRANSIENT_SEND_CMS else SendFailureKind.PERMANENT


def describe_cms(code: int) -> str:
    if code in CMS_ERRORS:
        return CMS_ERRORS[code]
    if code >= 512:
        return f"Manufacturer-specific error {code}"
    return f"Unknown +CMS error {code}"


def describe_cme(code: int) -> str:
    if code in CME_ERRORS:
        return CME_ERRORS[code]
    return f"Unknown +CME error {code}"


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower().replace("(u)", "")).strip()


_CME_BY_TEXT: Mapping[str, int] = MappingProxyType({_normalise(t): n for n, t in CME_ERRORS.items()})
_CMS_BY_TEXT: Mapping[str, int] = MappingProxyType({_normalise(t): n for n, t in CMS_ERRORS.items()})


def cme_code_for_text(text: str) -> int | None:
    """Verbose `+CME ERROR: SIM not inserted` (AT+CMEE=2) → 10; None when the wording is not standard."""
    return _CME_BY_TEXT.get(_normalise(text))


def cms_code_for_text(text: str) -> int | None:
    """Verbose `+CMS ERROR: invalid memory index` → 321; None when the wording is not standard."""
    return _CMS_BY_TEXT.get(_normalise(text))
