"""SimService, MessageService and AccountService: what a caller sees, and nothing of another organisation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from gatewayd.errors import NotFound, ValidationFailed
from gatewayd.services.container import Services
from gatewayd.services.gateway import ReceivedSms
from gatewayd.services.views import Principal
from tests.services.world import PASSWORD, organization, physical_sim, principal_for_user


async def test_a_sim_of_org_a_is_not_found_for_org_b(services: Services) -> None:
    a, b = await organization(services, "alpha"), await organization(services, "bravo")
    sim_id = await physical_sim(services, "860000000000001", "8944000000000000001", "+33612345678")
    await services.admin.assign_sims(org="alpha", team=None, sim_id=sim_id)
    for outsider in (b.key, b.user):
        assert await services.sims.list_for(outsider) == []
        with pytest.raises(NotFound):
            await services.sims.get_for(outsider, sim_id)
        with pytest.raises(NotFound):
            await services.messages.page_for(outsider, sim_id, page=1, per_page=10)
    seen = await services.sims.get_for(a.key, sim_id)
    assert (seen.id, seen.country, seen.provider, seen.type, seen.status) == (
        sim_id, "FR", "Vodafone", "physical", "active"
    )  # fmt: skip
    assert [(o.name, o.team_id) for o in seen.organizations] == [("alpha", None)]


async def test_a_sim_assigned_to_two_orgs_shows_each_only_its_own_assignment(services: Services) -> None:
    a, b = await organization(services, "alpha"), await organization(services, "bravo")
    sim_id = await physical_sim(services, "860000000000001", "8944000000000000001")
    await services.admin.assign_sims(org="alpha", team=None, sim_id=sim_id)
    await services.admin.assign_sims(org="bravo", team=None, iccid="8944000000000000001")
    assert [o.name for o in (await services.sims.get_for(a.user, sim_id)).organizations] == ["alpha"]
    assert [o.name for o in (await services.sims.get_for(b.user, sim_id)).organizations] == ["bravo"]


async def test_users_see_org_wide_sims_and_their_teams_sims_api_keys_see_all(services: Services) -> None:
    ops = await organization(services, "acme", team="ops")
    await services.admin.create_team("acme", "sales")
    await services.admin.create_user(
        "acme", email="seller@acme.example", name="S", password=PASSWORD, team="sales"
    )
    seller = await principal_for_user(services, "seller@acme.example")
    shared = await physical_sim(services, "860000000000001", "8944000000000000001")
    ops_sim = await physical_sim(services, "860000000000002", "8944000000000000002")
    sales_sim = await physical_sim(services, "860000000000003", "8944000000000000003")
    await services.admin.assign_sims(org="acme", team=None, sim_id=shared)
    await services.admin.assign_sims(org="acme", team="ops", sim_id=ops_sim)
    await services.admin.assign_sims(org="acme", team="sales", sim_id=sales_sim)

    async def ids(principal: Principal) -> list[int]:
        return [sim.id for sim in await services.sims.list_for(principal)]

    assert await ids(ops.user) == [shared, ops_sim]
    assert await ids(seller) == [shared, sales_sim]
    assert await ids(ops.key) == [shared, ops_sim, sales_sim]
    with pytest.raises(NotFound):
        await services.sims.get_for(seller, ops_sim)
    assert (await services.sims.get_for(ops.user, ops_sim)).teams[0].name == "ops"


async def test_messages_page_newest_first_with_counts(services: Services) -> None:
    org = await organization(services, "acme")
    sim_id = await physical_sim(services, "860000000000001", "8944000000000000001", "+447700900100")
    await services.admin.assign_sims(org="acme", team=None, all_unassigned=True)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    # Received out of order; two share a timestamp, so id breaks the tie.
    minutes = [5, 1, 9, 9, 3]
    items = [
        ReceivedSms(
            identity_key=f"m{n}", sender="+1555", text=None if n == 4 else f"#{n}",
            data=b"\x00\xff" if n == 4 else None, encoding="8bit" if n == 4 else "gsm7",
            received_at=start + timedelta(minutes=m), concat=None,
        )
        for n, m in enumerate(minutes)
    ]  # fmt: skip
    await services.gateway.store_received(sim_id, items)
    first = await services.messages.page_for(org.key, sim_id, page=1, per_page=2)
    second = await services.messages.page_for(org.key, sim_id, page=3, per_page=2)
    assert (first.total, first.page, first.per_page) == (5, 1, 2)
    minutes_seen = [int((m.received_at - start).total_seconds() // 60) for m in first.items]  # type: ignore[operator]
    assert minutes_seen == [9, 9] and first.items[0].id > first.items[1].id
    assert [m.received_at for m in second.items] == [start + timedelta(minutes=1)]
    middle = await services.messages.page_for(org.key, sim_id, page=2, per_page=2)
    binary = next(m for m in middle.items if m.encoding == "8bit")
    assert binary.data_base64 == base64.b64encode(b"\x00\xff").decode() and binary.text is None
    assert (await services.sims.get_for(org.key, sim_id)).messages_received_count == 5


async def test_page_arguments_are_validated(services: Services) -> None:
    org = await organization(services, "acme")
    for page, per_page in ((0, 10), (1, 0), (1, 101)):
        with pytest.raises(ValidationFailed):
            await services.messages.page_for(org.key, 1, page=page, per_page=per_page)


async def test_describe_returns_user_org_and_key_only_for_api_keys(services: Services) -> None:
    org = await organization(services, "acme")
    user, organization_view, key = await services.accounts.describe(org.key)
    assert (user.email, organization_view.name) == ("owner@acme.example", "acme")
    assert key is not None and key.id == org.key.api_key_id
    assert (await services.accounts.describe(org.user))[2] is None
