"""Modem engine: inbound parts for persistent reassembly, outbound parts with TP-MR, modem health,
and the outbound bookkeeping columns of messages (error, attempts, retry time, claim time).

Revision ID: 0003_modem_engine
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_modem_engine"
down_revision: str | None = "0002_locks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model column types, so later model edits never rewrite history.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbound_parts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column(
            "hosted_sim_id",
            ID,
            sa.ForeignKey(
                "hosted_sims.id", ondelete="CASCADE", name="fk_inbound_parts_hosted_sim_id_hosted_sims"
            ),
            nullable=False,
        ),
        sa.Column("identity_key", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sc_timestamp", TS, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column(
            "message_id",
            ID,
            sa.ForeignKey("messages.id", ondelete="SET NULL", name="fk_inbound_parts_message_id_messages"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_parts"),
        sa.UniqueConstraint("identity_key", name="uq_inbound_parts_identity_key"),
    )
    op.create_index("ix_inbound_parts_message_id", "inbound_parts", ["message_id"])
    op.create_index(
        "ix_inbound_parts_group", "inbound_parts", ["hosted_sim_id", "sender", "reference", "total"]
    )
    op.create_table(
        "outbound_parts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column(
            "message_id",
            ID,
            sa.ForeignKey("messages.id", ondelete="CASCADE", name="fk_outbound_parts_message_id_messages"),
            nullable=False,
        ),
        sa.Column(
            "hosted_sim_id",
            ID,
            sa.ForeignKey(
                "hosted_sims.id", ondelete="CASCADE", name="fk_outbound_parts_hosted_sim_id_hosted_sims"
            ),
            nullable=False,
        ),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message_reference", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report_status", sa.Integer(), nullable=True),
        sa.Column("sent_at", TS, nullable=False),
        sa.Column("reported_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbound_parts"),
    )
    op.create_index("ix_outbound_parts_message_id", "outbound_parts", ["message_id"])
    op.create_index("ix_outbound_parts_sim_mr", "outbound_parts", ["hosted_sim_id", "message_reference"])
    op.create_table(
        "modem_health",
        sa.Column(
            "modem_id",
            ID,
            sa.ForeignKey("modems.id", ondelete="CASCADE", name="fk_modem_health_modem_id_modems"),
            nullable=False,
        ),
        sa.Column("reinit", sa.Integer(), nullable=False),
        sa.Column("reset", sa.Integer(), nullable=False),
        sa.Column("reopen", sa.Integer(), nullable=False),
        sa.Column("usb_reset", sa.Integer(), nullable=False),
        sa.Column("quarantine", sa.Integer(), nullable=False),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("pin_state", sa.String(32), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("modem_id", name="pk_modem_health"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("send_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", TS, nullable=True))
        batch.add_column(sa.Column("claimed_at", TS, nullable=True))
    # The outbox's claim query: queued rows of one SIM, oldest first.
    op.create_index("ix_messages_outbound_queue", "messages", ["hosted_sim_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_messages_outbound_queue", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        for column in ("claimed_at", "next_attempt_at", "send_attempts", "error"):
            batch.drop_column(column)
    for table in ("modem_health", "outbound_parts", "inbound_parts"):
        op.drop_table(table)
