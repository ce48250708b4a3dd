"""Message identity: the same TPDU on the same SIM is one message; anything else is another."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gatewayd.sms.identity import message_identity
from gatewayd.sms.pdu import Deliver, decode, encode_deliver

MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _tpdu(pdu_hex: str) -> str:
    message = decode(pdu_hex)
    assert isinstance(message, Deliver)
    return message.tpdu_hex


def test_same_pdu_read_twice_has_one_identity_whatever_the_smsc_part_or_case() -> None:
    with_smsc = _tpdu(encode_deliver("+1555", "hi", sc_timestamp=MOMENT, smsc="+4917000"))
    without = _tpdu(encode_deliver("+1555", "hi", sc_timestamp=MOMENT))
    assert message_identity("sim-1", with_smsc) == message_identity("sim-1", without.lower())
    spaced = f" {with_smsc[:10]} {with_smsc[10:]}\n"
    assert message_identity("sim-1", with_smsc) == message_identity("sim-1", spaced)
    assert len(message_identity("sim-1", with_smsc)) == 64


def test_sim_timestamp_and_text_each_change_the_identity() -> None:
    base = _tpdu(encode_deliver("+1555", "hi", sc_timestamp=MOMENT))
    later = _tpdu(encode_deliver("+1555", "hi", sc_timestamp=MOMENT.replace(second=10)))
    other_text = _tpdu(encode_deliver("+1555", "ho", sc_timestamp=MOMENT))
    identities = {
        message_identity("sim-1", base),
        message_identity("sim-2", base),
        message_identity("sim-1", later),
        message_identity("sim-1", other_text),
    }
    assert len(identities) == 4


HEX = "0123456789ABCDEF"


@given(st.text(max_size=8), st.text(alphabet=HEX, min_size=1, max_size=8), st.text(alphabet=HEX, max_size=12))
def test_sim_key_and_tpdu_cannot_be_shifted_into_each_other(left: str, moved: str, tpdu: str) -> None:
    assert message_identity(left, moved + tpdu) != message_identity(left + moved, tpdu)
