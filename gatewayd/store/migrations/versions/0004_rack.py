"""Rack operations: gateway_ports, the ports each gateway host found (busy, HiLink, slot labels).

Revision ID: 0004_rack
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_rack"
down_revision: str | None = "0003_modem_engine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_ports",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port_key", sa.String(255), nullable=False),
        sa.Column("devname", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(64), nullable=True),
        sa.Column("usb_path", sa.String(255), nullable=True),
        sa.Column("slot", sa.String(64), nullable=True),
        sa.Column("imei", sa.String(20), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_ports"),
        sa.UniqueConstraint("host", "port_key", name="uq_gateway_ports_host_port_key"),
    )


def downgrade() -> None:
    op.drop_table("gateway_ports")
