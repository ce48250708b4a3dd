"""Per-SIM message counters kept exact by triggers on `messages` (the page total and
messages_received_count read one row instead of counting the SIM's messages).

Revision ID: 0010_message_counts
Revises: 0009_hosts
Create Date: 2026-01-10 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_message_counts"
down_revision: str | None = "0009_hosts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# SQLite: one trigger per operation. An UPDATE of hosted_sim_id (ON DELETE SET NULL of a SIM, or a row
# moved) takes the row off the old SIM's counts and puts it on the new one's.
SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER trg_messages_count_insert AFTER INSERT ON messages
    WHEN NEW.hosted_sim_id IS NOT NULL
    BEGIN
        INSERT INTO sim_message_counts (hosted_sim_id, total, inbound)
        VALUES (NEW.hosted_sim_id, 1, NEW.direction = 'inbound')
        ON CONFLICT (hosted_sim_id) DO UPDATE SET total = total + 1, inbound = inbound + excluded.inbound;
    END
    """,
    """
    CREATE TRIGGER trg_messages_count_delete AFTER DELETE ON messages
    WHEN OLD.hosted_sim_id IS NOT NULL
    BEGIN
        UPDATE sim_message_counts
        SET total = total - 1, inbound = inbound - (OLD.direction = 'inbound')
        WHERE hosted_sim_id = OLD.hosted_sim_id;
    END
    """,
    """
    CREATE TRIGGER trg_messages_count_update AFTER UPDATE OF hosted_sim_id, direction ON messages
    BEGIN
        UPDATE sim_message_counts
        SET total = total - 1, inbound = inbound - (OLD.direction = 'inbound')
        WHERE hosted_sim_id = OLD.hosted_sim_id;
        INSERT INTO sim_message_counts (hosted_sim_id, total, inbound)
        SELECT NEW.hosted_sim_id, 1, NEW.direction = 'inbound' WHERE NEW.hosted_sim_id IS NOT NULL
        ON CONFLICT (hosted_sim_id) DO UPDATE SET total = total + 1, inbound = inbound + excluded.inbound;
    END
    """,
)
SQLITE_DROPS = ("trg_messages_count_insert", "trg_messages_count_delete", "trg_messages_count_update")

POSTGRESQL_FUNCTION = """
CREATE FUNCTION simrelay_count_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.hosted_sim_id IS NOT NULL THEN
        UPDATE sim_message_counts
        SET total = total - 1, inbound = inbound - (OLD.direction = 'inbound')::int
        WHERE hosted_sim_id = OLD.hosted_sim_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.hosted_sim_id IS NOT NULL THEN
        INSERT INTO sim_message_counts AS c (hosted_sim_id, total, inbound)
        VALUES (NEW.hosted_sim_id, 1, (NEW.direction = 'inbound')::int)
        ON CONFLICT (hosted_sim_id) DO UPDATE SET total = c.total + 1, inbound = c.inbound + EXCLUDED.inbound;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGER = """
CREATE TRIGGER trg_messages_count AFTER INSERT OR DELETE OR UPDATE OF hosted_sim_id, direction ON messages
FOR EACH ROW EXECUTE FUNCTION simrelay_count_messages()
"""

BACKFILL = """
INSERT INTO sim_message_counts (hosted_sim_id, total, inbound)
SELECT hosted_sim_id, count(*), sum(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END)
FROM messages WHERE hosted_sim_id IS NOT NULL GROUP BY hosted_sim_id
"""


def upgrade() -> None:
    op.create_table(
        "sim_message_counts",
        sa.Column(
            "hosted_sim_id",
            ID,
            sa.ForeignKey(
                "hosted_sims.id", ondelete="CASCADE", name="fk_sim_message_counts_hosted_sim_id_hosted_sims"
            ),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("inbound", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("hosted_sim_id", name="pk_sim_message_counts"),
    )
    # Counts of the rows already there, then triggers keep them (the migration holds the write lock).
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_TRIGGER)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_messages_count ON messages")
        op.execute("DROP FUNCTION IF EXISTS simrelay_count_messages()")
    else:
        for name in SQLITE_DROPS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("sim_message_counts")
