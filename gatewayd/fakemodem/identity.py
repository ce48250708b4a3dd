"""Who an emulated modem says it is: IMEI, SIM identifiers, number, operator; deterministic per bank slot.

Pure values; the numbers are well-formed (Luhn check digits) but belong to no real device or SIM.
"""

from __future__ import annotations

from dataclasses import dataclass

_MAX_INDEX = 9_999
_MAX_SEED = 9_999


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits + result` pass the Luhn test (ITU-T E.118 ICCID, 3GPP TS 23.003 IMEI)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_check_digit(number[:-1]) == number[-1]


@dataclass(frozen=True)
class ModemIdentity:
    manufacturer: str
    model: str
    revision: str
    imei: str
    iccid: str
    imsi: str
    phone_number: str
    operator: str

    @classmethod
    def for_index(cls, index: int, seed: int = 0) -> ModemIdentity:
        """A stable identity for bank slot `index`; distinct for every (index, seed) in range."""
        if not 0 <= index <= _MAX_INDEX:
            raise ValueError(f"modem index {index} outside 0..{_MAX_INDEX}")
        if not 0 <= seed <= _MAX_SEED:
            raise ValueError(f"seed {seed} outside 0..{_MAX_SEED}")
        # IMEI: 8-digit TAC, 6-digit serial, Luhn digit (TS 23.003 §6.2.1). "8612" prefix as SIMCom TACs have.
        imei_body = f"8612{seed:04d}{index:06d}"
        # ICCID: 89 (telecom) 49 (Germany) 22 (issuer), 12 digits of account, Luhn digit = 19 digits.
        iccid_body = f"894922{seed:04d}{index:08d}"
        return cls(
            manufacturer="SIMCOM_Ltd",
            model="SIMCOM_SIM800L",
            revision="Revision:1418B05SIM800L24",
            imei=imei_body + luhn_check_digit(imei_body),
            iccid=iccid_body + luhn_check_digit(iccid_body),
            imsi=f"26201{seed:04d}{index:06d}",
            # 0151 + 8 digits is a valid German mobile number (phonenumbers accepts it).
            phone_number=f"+49151{seed:04d}{index:04d}",
            operator="Telekom.de",
        )
