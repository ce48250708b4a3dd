"""Rack operations: the serial ports each gateway host found and what became of them (migration 0004_rack).

One row per (host, port key), replaced as ports come and go, so `simrelay modems` can show busy ports,
HiLink sticks and slot labels even for ports that never answered AT (and so have no modem row).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gatewayd.store.models import Base, IdType


class GatewayPort(Base):
    __tablename__ = "gateway_ports"
    __table_args__ = (UniqueConstraint("host", "port_key", name="uq_gateway_ports_host_port_key"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(255))
    # USB path + interface ("<ID_PATH>-if02") for hotplugged ports; the device path for static ones.
    port_key: Mapped[str] = mapped_column(String(255))
    devname: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # at | hilink | unknown
    state: Mapped[str] = mapped_column(String(32))  # supervisor state for AT ports; the role otherwise
    detail: Mapped[str] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(String(64))
    usb_path: Mapped[str | None] = mapped_column(String(255))
    slot: Mapped[str | None] = mapped_column(String(64))
    imei: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime]
