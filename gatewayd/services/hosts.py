"""Gateway host heartbeats: each `simrelay gateway` says every few seconds which SIMs it serves; a sweep
(in any API process) shows the SIMs of a host whose heartbeats stopped as offline.

Theory of operation. A heartbeat upserts the host's row (name, SIMs in ready modems, time). A host is
*lapsed* when its last heartbeat is older than `stale_after_s`; the sweep takes its SIMs offline in one
guarded UPDATE (`lapsed_at IS NULL`), so any number of API processes may sweep at once and exactly one
does the work. A SIM that another live host reports meanwhile (it moved) is left alone. The next heartbeat
of a host clears `lapsed_at` and brings its ready SIMs back online. Queued outbound rows are never touched
here: they wait, and the gateway serving the SIM next claims them. No modem I/O, no cluster protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim
from gatewayd.store.models_hosts import GatewayHost

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL_S = 5.0
# Three missed heartbeats: one slow commit or a short database failover is not an outage.
DEFAULT_STALE_AFTER_S = 3 * DEFAULT_HEARTBEAT_INTERVAL_S


@dataclass(frozen=True)
class HostView:
    name: str
    hosted_sim_ids: tuple[int, ...]
    started_at: datetime
    heartbeat_at: datetime
    lapsed_at: datetime | None
    stopped_at: datetime | None

    def alive(self, now: datetime, stale_after_s: float) -> bool:
        fresh = now - self.heartbeat_at <= timedelta(seconds=stale_after_s)
        return self.stopped_at is None and self.lapsed_at is None and fresh


@dataclass(frozen=True)
class Lapsed:
    """What one sweep did: the host whose heartbeats stopped, and the SIMs it took offline."""

    host: str
    last_heartbeat_at: datetime
    offline_sim_ids: tuple[int, ...]


class HostService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def started(self, name: str) -> None:
        """A gateway process starts under `name`: a fresh row (no SIMs yet), any old state cleared."""
        await self._upsert(name, (), started=True)

    async def heartbeat(self, name: str, hosted_sim_ids: Iterable[int]) -> list[int]:
        """Record that `name` is alive and serves these SIMs (in ready modems); returns the SIMs it brought
        back online (non-empty after a lapse, when the sweep had taken them offline)."""
        return await self._upsert(name, tuple(sorted(set(hosted_sim_ids))), started=False)

    async def stopped(self, name: str) -> None:
        """A clean shutdown: the row stays (for operators) but is never swept."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            await session.execute(
                update(GatewayHost)
                .where(GatewayHost.name == name)
                .values(stopped_at=now, hosted_sim_ids=[])
            )

    async def _upsert(self, name: str, sim_ids: tuple[int, ...], *, started: bool) -> list[int]:
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            host = await session.scalar(select(GatewayHost).where(GatewayHost.name == name).with_for_update())
            if host is None:
                host = GatewayHost(name=name, hosted_sim_ids=list(sim_ids), started_at=now, heartbeat_at=now)
                session.add(host)
                return []
            host.hosted_sim_ids, host.heartbeat_at = list(sim_ids), now
            host.lapsed_at = host.stopped_at = None
            if started:
                host.started_at = now
            if not sim_ids:
                return []
            # SIMs in ready modems here are online, whatever a sweep decided while our beats were late
            # (a lapse can fall between two beats of a host that is merely slow).
            result = await session.execute(
                update(HostedSim)
                .where(HostedSim.id.in_(sim_ids), HostedSim.status == "offline")
                .values(status="active", updated_at=now)
                .returning(HostedSim.id)
            )
            return sorted(result.scalars())

    async def sweep(self, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[Lapsed]:
        """Take offline the SIMs of every host silent for longer than `stale_after_s` (once per lapse)."""
        now = self._clock.now()
        cutoff = now - timedelta(seconds=stale_after_s)
        done: list[Lapsed] = []
        if not await self._any_silent(cutoff):  # the usual answer: one cheap read, no write every few seconds
            return done
        async with write_transaction(self._sessions) as session:
            hosts = list(await session.scalars(select(GatewayHost)))
            live_sims = {
                sim_id for host in hosts if host.stopped_at is None and host.lapsed_at is None
                and host.heartbeat_at >= cutoff for sim_id in host.hosted_sim_ids
            }  # fmt: skip
            for host in hosts:
                if host.stopped_at is not None or host.lapsed_at is not None or host.heartbeat_at >= cutoff:
                    continue
                claimed = await session.execute(  # guarded: two sweepers never both act on one lapse
                    update(GatewayHost)
                    .where(GatewayHost.id == host.id, GatewayHost.lapsed_at.is_(None),
                           GatewayHost.heartbeat_at < cutoff)
                    .values(lapsed_at=now)
                    .returning(GatewayHost.id)
                )
                if claimed.one_or_none() is None:
                    continue
                orphaned = [sim_id for sim_id in host.hosted_sim_ids if sim_id not in live_sims]
                offline = await session.execute(
                    update(HostedSim)
                    .where(HostedSim.id.in_(orphaned), HostedSim.status == "active")
                    .values(status="offline", updated_at=now)
                    .returning(HostedSim.id)
                )
                done.append(Lapsed(host.name, host.heartbeat_at, tuple(sorted(offline.scalars()))))
        for lapse in done:
            log.warning("gateway host %s silent since %s: SIMs %s shown offline", lapse.host,
                        lapse.last_heartbeat_at.isoformat(), list(lapse.offline_sim_ids))
        return done

    async def _any_silent(self, cutoff: datetime) -> bool:
        """Whether some running, not yet lapsed host last beat before `cutoff` (the sweep re-checks it)."""
        async with read_transaction(self._sessions) as session:
            found = await session.scalar(
                select(GatewayHost.id)
                .where(GatewayHost.stopped_at.is_(None), GatewayHost.lapsed_at.is_(None),
                       GatewayHost.heartbeat_at < cutoff)
                .limit(1)
            )  # fmt: skip
        return found is not None

    async def hosts(self) -> list[HostView]:
        async with read_transaction(self._sessions) as session:
            rows = await session.scalars(select(GatewayHost).order_by(GatewayHost.name))
            return [
                HostView(row.name, tuple(row.hosted_sim_ids), row.started_at, row.heartbeat_at,
                         row.lapsed_at, row.stopped_at)
                for row in rows
            ]

    async def heartbeat_every(
        self, name: str, interval_s: float, serving: Callable[[], Iterable[int]]
    ) -> None:
        """The gateway's heartbeat task (owned by the runtime): a failed beat is logged and retried."""
        while True:
            try:
                back = await self.heartbeat(name, serving())
                if back:
                    log.info("gateway host %s heart-beating again: SIMs %s back online", name, back)
            except Exception:  # task boundary: the next beat tries again
                log.exception("gateway host %s: heartbeat failed", name)
            await asyncio.sleep(interval_s)  # the heartbeat cadence, not waiting for something

    async def sweep_every(self, interval_s: float, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        """The API side's sweep task (owned by the runtime)."""
        while True:
            try:
                await self.sweep(stale_after_s)
            except Exception:  # task boundary: the next sweep tries again
                log.exception("gateway host sweep failed")
            await asyncio.sleep(interval_s)  # the sweep cadence, not waiting for something

