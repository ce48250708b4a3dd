"""Gateway hosts: one heartbeat row per `simrelay gateway` process name (migration 0009_hosts).

The row says which hosted SIMs that host served at its last heartbeat, so a sweep elsewhere can show them
offline when the heartbeats stop. No cluster protocol: the row is the whole contract.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


class GatewayHost(Base):
    __tablename__ = "gateway_hosts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # Hosted SIM ids in ready modems of this host at its last heartbeat.
    hosted_sim_ids: Mapped[list[int]] = mapped_column(JSON())
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    # Set by the sweep when the heartbeats stopped (its SIMs were taken offline); cleared by a heartbeat.
    lapsed_at: Mapped[datetime | None]
    # Set by a clean shutdown (its supervisors already took their SIMs offline).
    stopped_at: Mapped[datetime | None]
