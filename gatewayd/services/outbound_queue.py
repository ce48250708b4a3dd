"""Read-only view of the outbound queue for metrics: per hosted SIM, how many SMS wait and since when.

Never writes and never claims rows; one short read transaction per scrape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import Message

# Outbound statuses that mean "not yet handed to a modem" (events.MessageStatusChanged lists them all).
WAITING_STATUSES: tuple[str, ...] = ("queued",)


@dataclass(frozen=True)
class QueueDepth:
    hosted_sim_id: int | None
    waiting: int
    oldest_age_s: float


class OutboundQueueStats:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def depths(self) -> list[QueueDepth]:
        """One row per SIM with waiting messages; the age is of its oldest waiting message."""
        query = (
            select(Message.hosted_sim_id, func.count(), func.min(Message.created_at))
            .where(Message.direction == "outbound", Message.status.in_(WAITING_STATUSES))
            .group_by(Message.hosted_sim_id)
        )
        async with read_transaction(self._sessions) as session:
            rows = (await session.execute(query)).all()
        now = self._clock.now()
        return [
            QueueDepth(sim_id, int(count), max((now - _aware(oldest, now)).total_seconds(), 0.0))
            for sim_id, count, oldest in rows
        ]


def _aware(moment: datetime, reference: datetime) -> datetime:
    # SQLite may hand back naive datetimes even for UTC columns, depending on the column type's dialect.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=reference.tzinfo)
