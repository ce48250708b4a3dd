"""Builds small worlds for service tests through the real services (no hand-made rows or principals)."""

from __future__ import annotations

from dataclasses import dataclass

from gatewayd.services.container import Services
from gatewayd.services.views import Principal

PASSWORD = "correct horse battery"
ALL = ["numbers.read", "numbers.lock", "messages.read", "webhooks.receive"]


@dataclass(frozen=True)
class Org:
    name: str
    key: Principal  # an API key of the org's first user
    user: Principal  # that user's personal access token


async def physical_sim(services: Services, imei: str, iccid: str, number: str | None = None) -> int:
    modem_id = await services.gateway.modem_seen(
        imei=imei, port=f"/dev/ttyUSB{imei[-1]}", usb_path=f"1-{imei[-1]}", manufacturer="Quectel",
        model="EC25", revision="EC25EFAR06A07M4G",
    )  # fmt: skip
    return await services.gateway.sim_seen(
        modem_id=modem_id, iccid=iccid, imsi=None, phone_number=number, operator="Vodafone"
    )


async def principal_for_key(services: Services, org: str, email: str, permissions: list[str]) -> Principal:
    _, plain = await services.admin.create_api_key(
        org=org, user_email=email, name="k", permissions=permissions
    )
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    return principal


async def principal_for_user(services: Services, email: str) -> Principal:
    user = await services.auth.verify_credentials(email, PASSWORD)
    assert user is not None
    _, plain = await services.auth.issue_personal_token(user.id, "test")
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    return principal


async def organization(services: Services, name: str, *, team: str | None = None) -> Org:
    """An organisation with one user (in `team` if given), an API key and a personal token."""
    await services.admin.create_organization(name)
    if team is not None:
        await services.admin.create_team(name, team)
    email = f"owner@{name}.example"
    await services.admin.create_user(name, email=email, name=f"{name} owner", password=PASSWORD, team=team)
    key = await principal_for_key(services, name, email, ALL)
    return Org(name=name, key=key, user=await principal_for_user(services, email))
