"""Health probes for `/api/health`: can we reach the database, how many modems are online.

Read-only; never repairs anything.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.store.engine import read_transaction
from gatewayd.store.repositories import modems as modem_queries

# Modem states (modem/lifecycle.py) in which the modem can receive SMS.
ONLINE_MODEM_STATES: tuple[str, ...] = ("ready", "online", "registered")


class HealthService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ping_database(self) -> None:
        """Returns when a round trip to the database succeeds; raises the driver's error otherwise."""
        async with read_transaction(self._sessions) as session:
            await session.execute(text("SELECT 1"))

    async def modem_counts(self) -> tuple[int, int]:
        """(online, total) modems known to the store."""
        async with read_transaction(self._sessions) as session:
            return await modem_queries.count_modems(session, ONLINE_MODEM_STATES)
