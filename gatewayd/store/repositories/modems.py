"""Queries for modems. No commits: services own transactions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gatewayd.store.models import HostedSim, Modem
from gatewayd.store.repositories.dialect import upsert_insert


async def upsert_modem(
    session: AsyncSession,
    *,
    imei: str,
    port: str | None,
    usb_path: str | None,
    manufacturer: str | None,
    model: str | None,
    revision: str | None,
    now: datetime,
) -> int:
    """Insert or refresh the modem with this IMEI in one statement (race-free); returns its id."""
    insert = await upsert_insert(session, Modem)
    new = insert.excluded
    statement = (
        insert.values(
            imei=imei,
            port=port,
            usb_path=usb_path,
            manufacturer=manufacturer,
            model=model,
            revision=revision,
            state="identified",
            last_seen_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[Modem.imei],
            set_={
                "port": new.port,
                "usb_path": new.usb_path,
                "manufacturer": func.coalesce(new.manufacturer, Modem.manufacturer),
                "model": func.coalesce(new.model, Modem.model),
                "revision": func.coalesce(new.revision, Modem.revision),
                "state": new.state,
                "last_seen_at": new.last_seen_at,
                "updated_at": new.updated_at,
            },
        )
        .returning(Modem.id)
    )
    modem_id: int = (await session.execute(statement)).scalar_one()
    return modem_id


async def link_sim(session: AsyncSession, modem_id: int, sim_id: int, now: datetime) -> int | None:
    """Put the SIM in this modem (taking it out of any other); returns the SIM this modem held before."""
    previous = await session.scalar(select(Modem.hosted_sim_id).where(Modem.id == modem_id))
    # Unlink first: modems.hosted_sim_id is unique, so the SIM cannot be in two modems even for a moment.
    await session.execute(
        update(Modem).where(Modem.hosted_sim_id == sim_id, Modem.id != modem_id).values(hosted_sim_id=None)
    )
    result = await session.execute(
        update(Modem)
        .where(Modem.id == modem_id)
        .values(hosted_sim_id=sim_id, last_seen_at=now, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LookupError(f"no modem with id {modem_id} to link SIM {sim_id} to")
    return previous if previous != sim_id else None


async def modem_with_iccid(session: AsyncSession) -> list[tuple[Modem, str | None]]:
    rows = await session.execute(
        select(Modem, HostedSim.iccid)
        .outerjoin(HostedSim, HostedSim.id == Modem.hosted_sim_id)
        .order_by(Modem.id)
    )
    return [(modem, iccid) for modem, iccid in rows]


async def count_modems(session: AsyncSession, online_states: tuple[str, ...]) -> tuple[int, int]:
    total = await session.scalar(select(func.count(Modem.id))) or 0
    online = await session.scalar(select(func.count(Modem.id)).where(Modem.state.in_(online_states))) or 0
    return online, total
