"""Tables of the modem engine: received parts awaiting reassembly, and sent parts awaiting status reports.

Columns and constraints only (queries live in services/gateway.py and services/outbound.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


class InboundPart(Base):
    """One part of a concatenated SMS, kept after its message is built so a re-read stays a no-op."""

    __tablename__ = "inbound_parts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    hosted_sim_id: Mapped[int] = mapped_column(IdType, ForeignKey("hosted_sims.id", ondelete="CASCADE"))
    identity_key: Mapped[str] = mapped_column(String(255), unique=True)
    sender: Mapped[str] = mapped_column(String(64))
    reference: Mapped[int]
    total: Mapped[int]
    sequence: Mapped[int]
    encoding: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # user data octets without the UDH
    sc_timestamp: Mapped[datetime]
    first_seen_at: Mapped[datetime]  # when we stored it: the reassembly timeout counts from here
    # Set when the part became (part of) a message; NULL while its group waits for the other parts.
    message_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )


Index(
    "ix_inbound_parts_group",
    InboundPart.hosted_sim_id,
    InboundPart.sender,
    InboundPart.reference,
    InboundPart.total,
)


class OutboundPart(Base):
    """One SMS-SUBMIT the modem accepted, with its TP-MR, so a status report can find its message."""

    __tablename__ = "outbound_parts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(IdType, ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    hosted_sim_id: Mapped[int] = mapped_column(IdType, ForeignKey("hosted_sims.id", ondelete="CASCADE"))
    sequence: Mapped[int]
    total: Mapped[int]
    message_reference: Mapped[int]  # TP-MR the modem answered in +CMGS, 0..255
    status: Mapped[str] = mapped_column(String(16))  # sent, delivered, failed
    report_status: Mapped[int | None]  # TP-ST of the status report (TS 23.040 §9.2.3.15)
    sent_at: Mapped[datetime]
    reported_at: Mapped[datetime | None]


Index("ix_outbound_parts_sim_mr", OutboundPart.hosted_sim_id, OutboundPart.message_reference)


class ModemHealth(Base):
    """Recovery-ladder counters and the SIM's PIN state per modem, as `simrelay modems` shows them."""

    __tablename__ = "modem_health"
    modem_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("modems.id", ondelete="CASCADE"), primary_key=True
    )
    reinit: Mapped[int] = mapped_column(default=0)
    reset: Mapped[int] = mapped_column(default=0)
    reopen: Mapped[int] = mapped_column(default=0)
    usb_reset: Mapped[int] = mapped_column(default=0)
    quarantine: Mapped[int] = mapped_column(default=0)
    last_reason: Mapped[str | None] = mapped_column(Text)
    pin_state: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]
