"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time-zone-aware timestamp: it stores text and hands back naive datetimes. `UtcDateTime`
accepts only aware datetimes, stores UTC, and always returns aware UTC. It holds no state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware-UTC timestamp on every dialect; a naive value is a bug and is refused with the value shown."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UtcDateTime expects a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"UtcDateTime refuses a naive datetime (no tzinfo): {value!r}")
        as_utc = value.astimezone(UTC)
        # SQLite keeps the text it is given; storing naive UTC keeps values comparable and sortable.
        return as_utc.replace(tzinfo=None) if dialect.name == "sqlite" else as_utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UtcDateTime read a non-datetime from the database: {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
