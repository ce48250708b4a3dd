"""AdminService: names or ids for org/team, clear Conflict/NotFound/ValidationFailed, SIM assignment rules."""

from __future__ import annotations

import pytest

from gatewayd.errors import Conflict, NotFound, ValidationFailed
from gatewayd.services.container import Services
from tests.services.world import PASSWORD, physical_sim


async def test_duplicates_are_conflicts_naming_the_value(services: Services) -> None:
    org = await services.admin.create_organization("acme")
    await services.admin.create_team("acme", "ops")
    await services.admin.create_user(
        str(org.id), email="Ada@Acme.example", name="Ada", password=PASSWORD, team=None
    )
    with pytest.raises(Conflict, match="'acme'"):
        await services.admin.create_organization("acme")
    with pytest.raises(Conflict, match="'ops'"):
        await services.admin.create_team(str(org.id), "ops")
    with pytest.raises(Conflict, match="ada@acme.example"):  # unique whatever the case
        await services.admin.create_user(
            "acme", email="ada@acme.example", name="A", password=PASSWORD, team=None
        )


async def test_teams_are_per_organisation(services: Services) -> None:
    await services.admin.create_organization("alpha")
    await services.admin.create_organization("bravo")
    alpha_ops = await services.admin.create_team("alpha", "ops")
    bravo_ops = await services.admin.create_team("bravo", "ops")
    assert alpha_ops.id != bravo_ops.id
    with pytest.raises(NotFound, match="bravo"):  # alpha's team id is not a team of bravo
        await services.admin.create_user(
            "bravo", email="x@bravo.example", name="X", password=PASSWORD, team=str(alpha_ops.id)
        )


async def test_unknown_references_are_not_found(services: Services) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        await services.admin.create_team("ghost", "ops")
    await services.admin.create_organization("acme")
    with pytest.raises(NotFound, match="8944"):
        await services.admin.assign_sims(org="acme", team=None, iccid="8944")
    with pytest.raises(NotFound):
        await services.admin.assign_sims(org="acme", team=None, sim_id=999)
    with pytest.raises(NotFound, match="nobody@acme.example"):
        await services.admin.create_api_key(
            org="acme", user_email="nobody@acme.example", name="k", permissions=["numbers.read"]
        )


async def test_invalid_input_names_the_field(services: Services) -> None:
    await services.admin.create_organization("acme")
    cases = {
        "email": services.admin.create_user("acme", email="no-at", name="N", password=PASSWORD, team=None),
        "password": services.admin.create_user("acme", email="a@b.c", name="N", password="short", team=None),
        "name": services.admin.create_organization("   "),
        "sim": services.admin.assign_sims(org="acme", team=None, iccid="1", all_unassigned=True),
    }
    for field, call in cases.items():
        with pytest.raises(ValidationFailed) as failure:
            await call
        assert list(failure.value.errors) == [field]


async def test_permissions_are_checked_against_the_enum(services: Services) -> None:
    await services.admin.create_organization("acme")
    await services.admin.create_user("acme", email="a@acme.example", name="A", password=PASSWORD, team=None)
    with pytest.raises(ValidationFailed, match="numbers.write"):
        await services.admin.create_api_key(
            org="acme", user_email="a@acme.example", name="k", permissions=["numbers.read", "numbers.write"]
        )
    view, _ = await services.admin.create_api_key(
        org="acme", user_email="a@acme.example", name="k", permissions=["messages.read", "numbers.read"] * 2
    )
    assert view.permissions == ["numbers.read", "messages.read"]


async def test_a_key_cannot_be_made_for_a_user_of_another_org(services: Services) -> None:
    await services.admin.create_organization("alpha")
    await services.admin.create_organization("bravo")
    await services.admin.create_user("alpha", email="a@alpha.example", name="A", password=PASSWORD, team=None)
    with pytest.raises(NotFound):
        await services.admin.create_api_key(
            org="bravo", user_email="a@alpha.example", name="k", permissions=["numbers.read"]
        )


async def test_assign_all_unassigned_then_reassign_moves_the_team(services: Services) -> None:
    await services.admin.create_organization("acme")
    await services.admin.create_team("acme", "ops")
    first = await physical_sim(services, "860000000000001", "8944000000000000001")
    second = await physical_sim(services, "860000000000002", "8944000000000000002")
    assert await services.admin.assign_sims(org="acme", team=None, all_unassigned=True) == [first, second]
    assert await services.admin.assign_sims(org="acme", team=None, all_unassigned=True) == []
    assert await services.admin.assign_sims(org="acme", team="ops", sim_id=first) == [first]


async def test_health_reports_the_database_and_modem_counts(services: Services) -> None:
    await services.health.ping_database()
    assert await services.health.modem_counts() == (0, 0)
    await physical_sim(services, "860000000000001", "8944000000000000001")
    assert await services.health.modem_counts() == (0, 1)  # identified, not yet ready


async def test_a_user_without_password_cannot_log_in_but_can_own_keys(services: Services) -> None:
    await services.admin.create_organization("sim")
    await services.admin.create_user("sim", email="admin@sim.example", name="A", password=None, team=None)
    for attempt in ("", "!", PASSWORD):
        assert await services.auth.verify_credentials("admin@sim.example", attempt) is None
    _, plain = await services.admin.create_api_key(
        org="sim", user_email="admin@sim.example", name="k", permissions=["numbers.read"]
    )
    assert await services.auth.authenticate(plain) is not None
