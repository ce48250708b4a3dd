"""The `sim_message_counts` table: per hosted SIM, how many messages it has (all, and inbound only).

Kept exact by database triggers on `messages` (migration 0010_message_counts), whoever writes the rows,
so the page's `total` and a Sim's `messages_received_count` never count 100,000 index entries per
request. Columns only: the triggers live in the migration, queries in repositories/messages.py.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


class SimMessageCount(Base):
    __tablename__ = "sim_message_counts"
    hosted_sim_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("hosted_sims.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    total: Mapped[int] = mapped_column(default=0, server_default="0")
    inbound: Mapped[int] = mapped_column(default=0, server_default="0")
