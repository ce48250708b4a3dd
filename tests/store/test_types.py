"""UtcDateTime: aware UTC in, the same instant out, on every dialect; naive values are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from gatewayd.store.engine import create_engine
from gatewayd.store.types import UtcDateTime

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets)


@given(aware)
def test_sqlite_stores_naive_utc_and_reads_back_the_same_instant(value: datetime) -> None:
    column = UtcDateTime()
    stored = column.process_bind_param(value, sqlite.dialect())
    assert stored is not None and stored.tzinfo is None
    read = column.process_result_value(stored, sqlite.dialect())
    assert read == value and read is not None and read.utcoffset() == timedelta(0)


@given(aware)
def test_postgresql_binds_aware_utc(value: datetime) -> None:
    stored = UtcDateTime().process_bind_param(value, postgresql.dialect())
    assert stored == value and stored is not None and stored.tzinfo is UTC


def test_naive_datetime_is_refused_with_the_value_shown() -> None:
    with pytest.raises(ValueError, match=r"naive datetime.*2026, 1, 1"):
        UtcDateTime().process_bind_param(datetime(2026, 1, 1), sqlite.dialect())


async def test_round_trip_through_a_real_database(empty_db_url: str) -> None:
    table = Table("stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
    paris_winter = timezone(timedelta(hours=1))
    written = datetime(2026, 1, 31, 23, 30, 0, 123456, tzinfo=paris_winter)
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(insert(table).values(id=1, at=written))
        async with engine.connect() as connection:
            read = (await connection.execute(select(table.c.at))).scalar_one()
    finally:
        await engine.dispose()
    assert read == written
    assert read.tzinfo == UTC and read.hour == 22
