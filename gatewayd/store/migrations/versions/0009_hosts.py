"""Gateway hosts: a heartbeat row per `simrelay gateway` process, naming the SIMs it serves.

Revision ID: 0009_hosts
Revises: 0007_byos_oauth
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_hosts"
down_revision: str | None = "0007_byos_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model edits never rewrite history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_hosts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("hosted_sim_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("lapsed_at", TS, nullable=True),
        sa.Column("stopped_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_hosts"),
        sa.UniqueConstraint("name", name="uq_gateway_hosts_name"),
    )


def downgrade() -> None:
    op.drop_table("gateway_hosts")
