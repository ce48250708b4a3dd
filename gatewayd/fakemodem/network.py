"""The emulated network's side of an incoming SMS: text or bytes → SMS-DELIVER PDUs as a SIM would store them.

Only an adapter over gatewayd.sms.pdu (the project's one codec); it must not encode anything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatewayd.sms.pdu import Encoding, decode_submit, encode_deliver_parts, encode_status_report

if TYPE_CHECKING:
    from gatewayd.fakemodem.modem import FakeModem

ENCODING_NAMES = {"gsm7": Encoding.GSM7, "ucs2": Encoding.UCS2, "8bit": Encoding.BINARY}


def encode_incoming(
    modem: FakeModem,
    sender: str,
    payload: str | bytes,
    *,
    encoding: Encoding | None = None,
    reference: int | None = None,
) -> list[str]:
    """PDUs for one SMS to `modem`, split into concatenated parts when long; the reference defaults to the
    modem's running counter, as an SC numbers the long messages it sends to one subscriber."""
    from gatewayd.fakemodem.commands import SERVICE_CENTRE

    return encode_deliver_parts(
        sender,
        payload,
        sc_timestamp=modem.now(),
        reference=modem.next_concat_reference() if reference is None else reference,
        encoding=encoding,
        smsc=SERVICE_CENTRE,
    )


def encode_delivery_report(modem: FakeModem, submit_pdu: str, mr: int, status: int) -> str | None:
    """The SMS-STATUS-REPORT the SC returns for a submitted PDU, or None when it asked for none (TP-SRR
    unset, TS 23.040 §9.2.3.5). Time of submission and discharge are both "now" on the modem's clock."""
    from gatewayd.fakemodem.commands import SERVICE_CENTRE

    submit = decode_submit(submit_pdu)
    if not submit.status_report:
        return None
    now = modem.now()
    return encode_status_report(
        mr, submit.recipient, sc_timestamp=now, discharge_time=now, status=status, smsc=SERVICE_CENTRE
    )
