"""sim_message_counts stays equal to COUNT(*) of messages per SIM, whatever writes the rows: inserts of
either direction, deletes, rows moved between SIMs, a SIM deleted (its messages SET NULL), backfill."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gatewayd.store.engine import create_engine
from gatewayd.store.migrate import upgrade

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SIMS = (1, 2, 3)

# (operation, sim, direction, pick): pick chooses which existing row a delete/move touches.
operations = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "move", "drop_sim"]),
        st.sampled_from((*SIMS, None)),
        st.sampled_from(["inbound", "outbound"]),
        st.integers(0, 1_000),
    ),
    max_size=12,
)


async def _add_sims(connection: AsyncConnection) -> None:
    for sim in SIMS:
        await connection.execute(
            text(
                "INSERT INTO hosted_sims (id, iccid, type, status, created_at, updated_at) "
                "VALUES (:id, :iccid, 'physical', 'active', :now, :now) ON CONFLICT (id) DO NOTHING"
            ),
            {"id": sim, "iccid": f"89490000000000000{sim}", "now": NOW},
        )


async def _apply(
    connection: AsyncConnection, operation: str, sim: int | None, direction: str, pick: int
) -> None:
    ids = list((await connection.execute(text("SELECT id FROM messages ORDER BY id"))).scalars())
    if operation == "insert" or not ids:
        await connection.execute(
            text(
                "INSERT INTO messages (hosted_sim_id, direction, encoding, segments, created_at, "
                "send_attempts) VALUES (:sim, :direction, 'gsm7', 1, :now, 0)"
            ),
            {"sim": sim, "direction": direction, "now": NOW},
        )
    elif operation == "delete":
        await connection.execute(text("DELETE FROM messages WHERE id = :id"), {"id": ids[pick % len(ids)]})
    elif operation == "move":
        await connection.execute(
            text("UPDATE messages SET hosted_sim_id = :sim, direction = :direction WHERE id = :id"),
            {"sim": sim, "direction": direction, "id": ids[pick % len(ids)]},
        )
    elif sim is not None:  # drop_sim: the SIM goes, its messages stay with hosted_sim_id NULL
        await connection.execute(text("DELETE FROM hosted_sims WHERE id = :id"), {"id": sim})
        await _add_sims(connection)


async def _actual_and_kept(
    connection: AsyncConnection,
) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    actual = {
        row[0]: (row[1], row[2])
        for row in await connection.execute(
            text(
                "SELECT hosted_sim_id, count(*), sum(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END) "
                "FROM messages WHERE hosted_sim_id IS NOT NULL GROUP BY hosted_sim_id"
            )
        )
    }
    kept = {
        row[0]: (row[1], row[2])
        for row in await connection.execute(
            text("SELECT hosted_sim_id, total, inbound FROM sim_message_counts WHERE total <> 0")
        )
    }
    return actual, kept


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
async def test_counters_equal_the_rows_after_any_writes(
    empty_db_url: str, steps: list[tuple[str, int | None, str, int]]
) -> None:
    await upgrade(empty_db_url)  # a no-op after the first example: the invariant needs no clean slate
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as connection:
            await _add_sims(connection)
            for operation, sim, direction, pick in steps:
                await _apply(connection, operation, sim, direction, pick)
            actual, kept = await _actual_and_kept(connection)
    finally:
        await engine.dispose()
    assert kept == actual


async def test_the_migration_counts_rows_that_were_there_before_it(empty_db_url: str) -> None:
    await upgrade(empty_db_url, "0009_hosts")
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as connection:
            await _add_sims(connection)
            for sim, direction in [
                (1, "inbound"),
                (1, "inbound"),
                (1, "outbound"),
                (2, "outbound"),
                (None, "inbound"),
            ]:
                await _apply(connection, "insert", sim, direction, 0)
        await upgrade(empty_db_url)
        async with engine.begin() as connection:
            actual, kept = await _actual_and_kept(connection)
    finally:
        await engine.dispose()
    assert kept == actual == {1: (3, 2), 2: (1, 0)}
