"""The SIMs a caller may use, as views: API keys see the whole organisation, users their teams'.

Visibility is enforced in the query (repositories.sims); a SIM outside it is NotFound, never Forbidden.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import NotFound
from gatewayd.services.accounts import team_view
from gatewayd.services.views import Principal, SimAssignmentView, SimView
from gatewayd.store.engine import read_transaction
from gatewayd.store.repositories import accounts as account_queries
from gatewayd.store.repositories import locks as lock_queries
from gatewayd.store.repositories import sims as sim_queries


async def visible_team_ids(session: AsyncSession, principal: Principal) -> list[int] | None:
    """None = the whole organisation (API keys); otherwise the teams whose SIMs the user may use."""
    if principal.auth_type == "api_key":
        return None
    return await account_queries.team_ids_of_user(session, principal.user_id)


async def require_visible_sim(
    session: AsyncSession, principal: Principal, sim_id: int, *, for_update: bool = False
) -> sim_queries.VisibleSim:
    """The SIM if the principal may see it; NotFound otherwise (never revealing that it exists).
    `for_update`: hold the SIM's row until the transaction ends (see repositories.sims.visible_sims)."""
    team_ids = await visible_team_ids(session, principal)
    found = await sim_queries.visible_sims(session, principal.organization_id, team_ids, sim_id,
                                           for_update=for_update)
    if not found:
        raise NotFound(f"No hosted SIM {sim_id}.")
    return found[0]


def shown_status(stored: str, locked: bool) -> str:
    """`locked` while a live lock is held on an otherwise `active` SIM (ENDPOINTS.md, Sim.status);
    `offline` and `disabled` say more about whether it can be used, so they win over a lock."""
    return "locked" if locked and stored == "active" else stored


def sim_view(visible: sim_queries.VisibleSim, received_count: int, locked: bool = False) -> SimView:
    sim, assignment = visible.sim, visible.assignment
    return SimView(
        id=sim.id,
        phone_number=sim.phone_number,
        status=shown_status(sim.status, locked),
        country=sim.country,
        provider=sim.provider,
        type=sim.type,
        organizations=[
            SimAssignmentView(
                id=visible.organization.id,
                name=visible.organization.name,
                alias=assignment.alias,
                team_id=assignment.team_id,
            )
        ],
        teams=[team_view(visible.team)] if visible.team is not None else [],
        messages_received_count=received_count,
        signal_strength=sim.signal_strength,
        last_seen_at=sim.last_seen_at,
        slot=sim.slot,
        iccid=sim.iccid,
    )


class SimService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock  # a lock is live until its expires_at on this clock

    async def list_for(self, principal: Principal) -> list[SimView]:
        async with read_transaction(self._sessions) as session:
            team_ids = await visible_team_ids(session, principal)
            visible = await sim_queries.visible_sims(session, principal.organization_id, team_ids)
            ids = [v.sim.id for v in visible]
            counts = await sim_queries.inbound_counts(session, ids)
            locked = await lock_queries.live_locked_sim_ids(session, ids, self._clock.now())
        return [sim_view(v, counts.get(v.sim.id, 0), v.sim.id in locked) for v in visible]

    async def get_for(self, principal: Principal, sim_id: int) -> SimView:
        async with read_transaction(self._sessions) as session:
            visible = await require_visible_sim(session, principal, sim_id)
            counts = await sim_queries.inbound_counts(session, [sim_id])
            locked = await lock_queries.live_locked_sim_ids(session, [sim_id], self._clock.now())
        return sim_view(visible, counts.get(sim_id, 0), sim_id in locked)
