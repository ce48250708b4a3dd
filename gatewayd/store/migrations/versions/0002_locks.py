"""SIM locks: one live lock per hosted SIM (UNIQUE hosted_sim_id), expiry as a column.

Revision ID: 0002_locks
Revises: 0001
Create Date: 2026-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_locks"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model edits never rewrite history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sim_locks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("hosted_sim_id", ID, sa.ForeignKey("hosted_sims.id", ondelete="CASCADE",
                                                     name="fk_sim_locks_hosted_sim_id_hosted_sims"),
                  nullable=False),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE",
                                               name="fk_sim_locks_user_id_users"), nullable=False),
        sa.Column("organization_id", ID, sa.ForeignKey("organizations.id", ondelete="CASCADE",
                                                       name="fk_sim_locks_organization_id_organizations"),
                  nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sim_locks"),
        sa.UniqueConstraint("hosted_sim_id", name="uq_sim_locks_hosted_sim_id"),
        sqlite_autoincrement=True,  # never reuse a released lock's id (see models_locks.py)
    )
    op.create_index("ix_sim_locks_user_id", "sim_locks", ["user_id"])
    op.create_index("ix_sim_locks_organization_id", "sim_locks", ["organization_id"])
    op.create_index("ix_sim_locks_expires_at", "sim_locks", ["expires_at"])


def downgrade() -> None:
    op.drop_table("sim_locks")
