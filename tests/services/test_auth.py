"""AuthService: API keys found by exact hash (never by prefix); personal tokens revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from gatewayd.services.auth import api_key_prefix, sha256_hex
from gatewayd.services.container import Services
from gatewayd.store.engine import write_transaction
from gatewayd.store.models import ApiKey
from tests.services.conftest import Stack
from tests.services.world import PASSWORD, organization


async def test_the_right_api_key_authenticates_with_its_own_permissions(services: Services) -> None:
    await organization(services, "acme")
    view, plain = await services.admin.create_api_key(
        org="acme", user_email="owner@acme.example", name="reader", permissions=["messages.read"]
    )
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    assert (principal.auth_type, principal.api_key_id, principal.token_id) == ("api_key", view.id, None)
    assert principal.permissions == frozenset({"messages.read"})
    assert view.key_prefix == plain[:12] and plain.startswith("sk_live_") and len(plain) >= 8 + 43


async def test_wrong_keys_and_garbage_do_not_authenticate(services: Services) -> None:
    await organization(services, "acme")
    _, plain = await services.admin.create_api_key(
        org="acme", user_email="owner@acme.example", name="k", permissions=["numbers.read"]
    )
    last = "A" if plain[-1] != "A" else "B"
    for token in (plain[:-1] + last, plain[:12], plain + "x", "sk_live_", "", "garbage", "|", "1|", "x|y"):
        assert await services.auth.authenticate(token) is None, token


async def test_keys_sharing_a_prefix_are_told_apart_by_the_whole_secret(stack: Stack) -> None:
    services = stack.services
    await organization(services, "acme")
    first_view, first = await services.admin.create_api_key(
        org="acme", user_email="owner@acme.example", name="one", permissions=["numbers.read"]
    )
    second_view, _ = await services.admin.create_api_key(
        org="acme", user_email="owner@acme.example", name="two", permissions=["messages.read"]
    )
    # Regenerate the second key so that its prefix equals the first's: lookups must not care.
    twin = first[:12] + "Z" * (len(first) - 12)
    async with write_transaction(stack.sessions) as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == second_view.id)
            .values(key_prefix=api_key_prefix(twin), secret_hash=sha256_hex(twin))
        )
    by_first, by_twin = await services.auth.authenticate(first), await services.auth.authenticate(twin)
    assert by_first is not None and by_twin is not None
    assert (by_first.api_key_id, by_twin.api_key_id) == (first_view.id, second_view.id)
    assert by_twin.permissions == frozenset({"messages.read"})


async def test_personal_tokens_are_sanctum_with_every_permission_until_revoked(services: Services) -> None:
    org = await organization(services, "acme")
    user = await services.auth.verify_credentials("OWNER@acme.example", PASSWORD)
    assert user is not None and user.id == org.user.user_id
    token_id, plain = await services.auth.issue_personal_token(user.id, "laptop")
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    assert (principal.auth_type, principal.token_id, principal.api_key_id) == ("sanctum", token_id, None)
    assert len(principal.permissions) == 4
    assert await services.auth.authenticate(f"{token_id}|{plain.partition('|')[2][:-1]}") is None
    assert await services.auth.authenticate(f"{token_id + 1}|{plain.partition('|')[2]}") is None
    await services.auth.revoke_personal_token(token_id)
    assert await services.auth.authenticate(plain) is None


async def test_an_expired_token_stops_working(stack: Stack) -> None:
    await organization(stack.services, "acme")
    user = await stack.services.auth.verify_credentials("owner@acme.example", PASSWORD)
    assert user is not None
    _, plain = await stack.services.auth.issue_personal_token(
        user.id, "short", expires_at=stack.clock.now() + timedelta(minutes=5)
    )
    assert await stack.services.auth.authenticate(plain) is not None
    stack.clock.advance(5 * 60)
    assert await stack.services.auth.authenticate(plain) is None


async def test_wrong_password_and_unknown_email_are_refused(services: Services) -> None:
    await organization(services, "acme")
    assert await services.auth.verify_credentials("owner@acme.example", PASSWORD + "!") is None
    assert await services.auth.verify_credentials("nobody@acme.example", PASSWORD) is None


async def test_last_used_at_is_refreshed_at_most_once_a_minute(stack: Stack) -> None:
    services = stack.services
    await organization(services, "acme")
    view, plain = await services.admin.create_api_key(
        org="acme", user_email="owner@acme.example", name="k", permissions=["numbers.read"]
    )
    assert view.last_used_at is None
    first_use = stack.clock.now()
    principal = await services.auth.authenticate(plain)
    assert principal is not None
    stack.clock.advance(30)
    await services.auth.authenticate(plain)
    assert (await services.accounts.describe(principal))[2].last_used_at == first_use  # type: ignore[union-attr]
    stack.clock.advance(31)
    await services.auth.authenticate(plain)
    assert (await services.accounts.describe(principal))[2].last_used_at == stack.clock.now()  # type: ignore[union-attr]
