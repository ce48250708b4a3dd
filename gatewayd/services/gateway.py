"""What the modem tasks record: modems and SIMs seen, their status, and received SMS.

Each call is one short write transaction and is safe under concurrent calls from many modem tasks:
upserts and the inbound insert are single statements arbitrated by unique indexes (IMEI, ICCID,
identity_key), so two tasks racing on the same row produce one row and no error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.services.views import ModemView
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import HostedSim, Modem
from gatewayd.store.repositories import messages as message_queries
from gatewayd.store.repositories import modems as modem_queries
from gatewayd.store.repositories import sims as sim_queries


@dataclass(frozen=True)
class ReceivedSms:
    """One SMS read from a modem, ready to store; `concat` is (reference, total, sequence) of a part."""

    identity_key: str
    sender: str
    text: str | None
    data: bytes | None
    encoding: str
    received_at: datetime
    concat: tuple[int, int, int] | None


def country_of(phone_number: str | None) -> str | None:
    """ISO 3166 alpha-2 of an international number (`+447...` → GB); None when it cannot be told."""
    if not phone_number:
        return None
    candidate = phone_number if phone_number.startswith("+") else "+" + phone_number.lstrip("0")
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    # Exact region for valid numbers; else the country code's main region (test ranges, new blocks).
    region: str | None = phonenumbers.region_code_for_number(parsed)
    if (not region or region == "ZZ") and parsed.country_code is not None:
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return region if region and region != "ZZ" else None


def _check_signal(signal_strength: int | None) -> None:
    if signal_strength is not None and not 0 <= signal_strength <= 100:
        raise ValueError(f"signal_strength must be 0..100 percent, got {signal_strength}")


class GatewayRecorder:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def modem_seen(
        self,
        *,
        imei: str,
        port: str | None,
        usb_path: str | None,
        manufacturer: str | None,
        model: str | None,
        revision: str | None,
    ) -> int:
        """Upsert the modem by IMEI (it may come back on another port); returns its id."""
        async with write_transaction(self._sessions) as session:
            return await modem_queries.upsert_modem(
                session,
                imei=imei,
                port=port,
                usb_path=usb_path,
                manufacturer=manufacturer,
                model=model,
                revision=revision,
                now=self._clock.now(),
            )

    async def sim_seen(
        self, *, modem_id: int, iccid: str, imsi: str | None, phone_number: str | None, operator: str | None
    ) -> int:
        """Upsert the SIM by ICCID and link it to the modem; the SIM keeps its id when it moves.

        A SIM that was in this modem before (a swap) is marked offline.
        """
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            sim_id = await sim_queries.upsert_physical_sim(
                session,
                iccid=iccid,
                imsi=imsi,
                phone_number=phone_number,
                country=country_of(phone_number),
                provider=operator,
                now=now,
            )
            replaced = await modem_queries.link_sim(session, modem_id, sim_id, now)
            if replaced is not None:
                await sim_queries.mark_offline(session, replaced, now)
        return sim_id

    async def modem_status(
        self,
        modem_id: int,
        *,
        state: str,
        signal_strength: int | None,
        registration: str | None,
        operator: str | None,
        storage_used: int | None,
        storage_total: int | None,
    ) -> None:
        """Record the modem's latest status and mirror signal/operator onto the SIM it holds."""
        _check_signal(signal_strength)
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            result = await session.execute(
                update(Modem)
                .where(Modem.id == modem_id)
                .values(
                    state=state,
                    signal_strength=signal_strength,
                    registration=registration,
                    operator=operator,
                    storage_used=storage_used,
                    storage_total=storage_total,
                    last_seen_at=now,
                    updated_at=now,
                )
                .returning(Modem.hosted_sim_id)
            )
            sim_ids = list(result.scalars())
            if not sim_ids:
                raise LookupError(f"modem_status for unknown modem id {modem_id}")
            if sim_ids[0] is not None:
                values: dict[str, object] = {
                    "signal_strength": signal_strength,
                    "last_seen_at": now,
                    "updated_at": now,
                }
                if operator:
                    values["provider"] = operator
                await session.execute(update(HostedSim).where(HostedSim.id == sim_ids[0]).values(**values))

    async def modem_gone(self, modem_id: int, *, state: str) -> None:
        """The modem stopped answering or was unplugged: set its state and take its SIM offline."""
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            result = await session.execute(
                update(Modem)
                .where(Modem.id == modem_id)
                .values(state=state, updated_at=now)
                .returning(Modem.hosted_sim_id)
            )
            sim_ids = list(result.scalars())
            if sim_ids and sim_ids[0] is not None:
                await sim_queries.mark_offline(session, sim_ids[0], now)

    async def store_received(self, hosted_sim_id: int, items: Sequence[ReceivedSms]) -> list[int]:
        """Store a batch in ONE transaction; an identity already stored is skipped. Returns the new ids
        (in identity_key order).

        The caller may delete the SMS from the modem once this returns (the commit is durable).
        """
        if not items:
            return []
        now = self._clock.now()
        new_ids: list[int] = []
        async with write_transaction(self._sessions) as session:
            sim = await session.get(HostedSim, hosted_sim_id)
            if sim is None:
                raise LookupError(f"store_received for unknown hosted SIM id {hosted_sim_id}")
            # One lock order for every batch: on PostgreSQL two batches holding the same keys in
            # opposite orders would otherwise deadlock on the unique index.
            for item in sorted(items, key=lambda each: each.identity_key):
                new_id = await message_queries.insert_unless_known(session, _inbound_row(sim, item, now))
                if new_id is not None:
                    new_ids.append(new_id)
        return new_ids

    async def list_modems(self) -> list[ModemView]:
        async with read_transaction(self._sessions) as session:
            rows = await modem_queries.modem_with_iccid(session)
        return [_modem_view(modem, iccid) for modem, iccid in rows]


def _inbound_row(sim: HostedSim, item: ReceivedSms, now: datetime) -> dict[str, object]:
    reference, total, sequence = item.concat if item.concat else (None, None, None)
    return {
        "hosted_sim_id": sim.id,
        "direction": "inbound",
        "sender": item.sender,
        "recipient": sim.phone_number,
        "text": item.text,
        "data": item.data,
        "encoding": item.encoding,
        "received_at": item.received_at,
        "status": "received",
        "segments": total or 1,
        "identity_key": item.identity_key,
        "concat_reference": reference,
        "concat_total": total,
        "concat_sequence": sequence,
        "created_at": now,
    }


def _modem_view(modem: Modem, iccid: str | None) -> ModemView:
    return ModemView(
        id=modem.id,
        imei=modem.imei,
        port=modem.port,
        usb_path=modem.usb_path,
        manufacturer=modem.manufacturer,
        model=modem.model,
        state=modem.state,
        signal_strength=modem.signal_strength,
        registration=modem.registration,
        operator=modem.operator,
        storage_used=modem.storage_used,
        storage_total=modem.storage_total,
        hosted_sim_id=modem.hosted_sim_id,
        iccid=iccid,
        last_seen_at=modem.last_seen_at,
    )
