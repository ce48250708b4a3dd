"""The ports each gateway host found and their state, for `simrelay modems`: written by the hotplug
manager when something changed, read by the CLI. Never talks to a modem; one short transaction per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim
from gatewayd.store.models_rack import GatewayPort


@dataclass(frozen=True)
class PortReport:
    port_key: str
    devname: str
    role: str  # at | hilink | unknown
    state: str  # the supervisor's state for an AT port (ready, busy, unplugged, ...); the role otherwise
    detail: str
    profile: str | None = None
    usb_path: str | None = None
    slot: str | None = None
    imei: str | None = None


@dataclass(frozen=True)
class HostPort:
    host: str
    report: PortReport
    updated_at: datetime


class PortReports:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def replace(
        self, host: str, reports: Sequence[PortReport], sim_slots: Mapping[int, str | None] | None = None
    ) -> None:
        """This host's ports are now exactly `reports` (one transaction; other hosts' rows untouched).

        `sim_slots` (hosted SIM id → slot label) puts the label on the Sim object, so it follows a SIM
        moved to another slot.
        """
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            for sim_id, slot in (sim_slots or {}).items():
                await session.execute(update(HostedSim).where(HostedSim.id == sim_id).values(slot=slot))
            await session.execute(delete(GatewayPort).where(GatewayPort.host == host))
            session.add_all(
                GatewayPort(host=host, updated_at=now, **_columns(report)) for report in reports
            )

    async def list(self) -> list[HostPort]:
        async with read_transaction(self._sessions) as session:
            rows = (await session.scalars(
                select(GatewayPort).order_by(GatewayPort.host, GatewayPort.slot, GatewayPort.port_key)
            )).all()
        return [HostPort(row.host, _report(row), row.updated_at) for row in rows]


def _columns(report: PortReport) -> dict[str, object]:
    return {
        "port_key": report.port_key, "devname": report.devname, "role": report.role, "state": report.state,
        "detail": report.detail, "profile": report.profile, "usb_path": report.usb_path, "slot": report.slot,
        "imei": report.imei,
    }


def _report(row: GatewayPort) -> PortReport:
    return PortReport(row.port_key, row.devname, row.role, row.state, row.detail, row.profile, row.usb_path,
                      row.slot, row.imei)
