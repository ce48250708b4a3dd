"""SMS-STATUS-REPORT (TS 23.040 §9.2.2.3): the delivery report the SC sends for a submitted message.

Reads TP-MR, TP-RA, TP-SCTS, TP-DT and TP-ST; the optional parameters after TP-ST are not interpreted.
"""

from __future__ import annotations

from datetime import datetime

from gatewayd.sms import address, timestamp
from gatewayd.sms.model import AddressType, StatusReport
from gatewayd.sms.octets import OctetReader

_FIRST_OCTET = 0x06  # TP-MTI 10 (status report) with TP-MMS set (§9.2.3.1, §9.2.3.2)


def read_status_report(reader: OctetReader, smsc: str | None) -> StatusReport:
    tpdu_start = reader.position
    reader.octet("TP-MTI octet")
    message_reference = reader.octet("TP-MR")
    recipient, _ = address.read_address(reader, "TP-RA")
    sc_timestamp = timestamp.read_timestamp(reader, "TP-SCTS")
    discharge_time = timestamp.read_timestamp(reader, "TP-DT")
    status = reader.octet("TP-ST")
    # TP-PI and the optional TP-PID/TP-DCS/TP-UD may follow (§9.2.2.3); they add nothing we report.
    return StatusReport(
        smsc=smsc,
        message_reference=message_reference,
        recipient=recipient,
        sc_timestamp=sc_timestamp,
        discharge_time=discharge_time,
        status=status,
        tpdu_hex=reader.data[tpdu_start:].hex().upper(),
    )


def encode_status_report(
    message_reference: int,
    recipient: str,
    *,
    sc_timestamp: datetime,
    discharge_time: datetime,
    status: int,
    smsc: str | None = None,
) -> str:
    """Full PDU hex (SMSC part included) of a status report, as +CDS or AT+CMGR print it."""
    if not 0 <= message_reference <= 0xFF or not 0 <= status <= 0xFF:
        raise ValueError(f"message_reference {message_reference} and status {status} must be octets")
    tpdu = (
        bytes((_FIRST_OCTET, message_reference))
        + address.encode_address(recipient, digits_type=AddressType.UNKNOWN, allow_alphanumeric=False)
        + timestamp.encode_timestamp(sc_timestamp)
        + timestamp.encode_timestamp(discharge_time)
        + bytes((status,))
    )
    return (address.encode_smsc(smsc) + tpdu).hex().upper()
