"""The principal cache and the batched last_used_at: a cached credential costs no query, any change made
through this process stops the old credential at once, a change made elsewhere within the TTL, and uses
reach the database in one write per flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gatewayd.clock import ManualClock
from gatewayd.services.auth import PRINCIPAL_CACHE_TTL_S, PrincipalCache
from gatewayd.services.views import Principal
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import ApiKey, PersonalAccessToken
from tests.services.conftest import Stack
from tests.services.world import PASSWORD, organization


@contextmanager
def statements(stack: Stack) -> Iterator[list[str]]:
    """Every SQL statement the services send while the block runs."""
    engine: AsyncEngine = stack.sessions.kw["bind"]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _key(stack: Stack, permissions: list[str]) -> tuple[int, str]:
    view, plain = await stack.services.admin.create_api_key(
        org="acme", user_email="owner@acme.example", name="k", permissions=permissions
    )
    return view.id, plain


async def test_a_known_credential_is_answered_from_memory(stack: Stack) -> None:
    org = await organization(stack.services, "acme")
    _, plain = await _key(stack, ["numbers.read"])
    first = await stack.services.auth.authenticate(plain)
    with statements(stack) as seen:
        again = await stack.services.auth.authenticate(plain)
        wrong = await stack.services.auth.authenticate(plain[:-1] + ("A" if plain[-1] != "A" else "B"))
    assert again == first and again is not None and wrong is None
    # Only the wrong key was looked up (SQLite's explicit BEGIN aside); the right one cost nothing.
    assert [s for s in seen if not s.startswith("BEGIN")] == [seen[-1]] and "api_keys" in seen[-1]
    assert org.key.organization_id == again.organization_id


async def test_changes_made_here_apply_at_once(stack: Stack) -> None:
    org = await organization(stack.services, "acme")
    key_id, plain = await _key(stack, ["numbers.read"])
    auth, keys = stack.services.auth, stack.services.api_keys
    assert await auth.authenticate(plain) is not None
    await keys.update(org.user, key_id, name=None, permissions=["messages.read"])
    changed = await auth.authenticate(plain)
    assert changed is not None and changed.permissions == frozenset({"messages.read"})
    _, new_plain = await keys.regenerate(org.user, key_id)
    assert await auth.authenticate(plain) is None
    assert await auth.authenticate(new_plain) is not None
    await keys.delete(org.user, key_id)
    assert await auth.authenticate(new_plain) is None


async def test_a_logged_out_token_stops_at_once(stack: Stack) -> None:
    await organization(stack.services, "acme")
    user = await stack.services.auth.verify_credentials("owner@acme.example", PASSWORD)
    assert user is not None
    _, plain = await stack.services.auth.issue_personal_token(user.id, "laptop")
    principal = await stack.services.auth.authenticate(plain)
    assert principal is not None
    await stack.services.auth.logout(principal)
    assert await stack.services.auth.authenticate(plain) is None


async def test_a_change_made_by_another_process_applies_within_the_ttl(stack: Stack) -> None:
    await organization(stack.services, "acme")
    key_id, plain = await _key(stack, ["numbers.read"])
    assert await stack.services.auth.authenticate(plain) is not None
    async with write_transaction(stack.sessions) as session:  # what the admin CLI would do
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(secret_hash="0" * 64))
    assert await stack.services.auth.authenticate(plain) is not None  # still within the bound
    stack.clock.advance(PRINCIPAL_CACHE_TTL_S)
    assert await stack.services.auth.authenticate(plain) is None


async def test_a_cached_token_still_expires_on_time(stack: Stack) -> None:
    await organization(stack.services, "acme")
    user = await stack.services.auth.verify_credentials("owner@acme.example", PASSWORD)
    assert user is not None
    _, plain = await stack.services.auth.issue_personal_token(
        user.id, "short", expires_at=stack.clock.now() + timedelta(seconds=1)
    )
    assert await stack.services.auth.authenticate(plain) is not None
    stack.clock.advance(1)
    assert await stack.services.auth.authenticate(plain) is None


def test_a_lookup_that_began_before_a_change_is_not_remembered() -> None:
    cache = PrincipalCache(ManualClock(), ttl_s=60, max_entries=2)
    principal = Principal(1, 1, "api_key", frozenset(), 1, None)
    began = cache.generation
    cache.forget_all()  # a revoke committed while the lookup was reading
    cache.put("h", principal, generation=began, expires_at=None, last_used_at=None)
    assert cache.get("h") is None
    for name in ("a", "b", "c"):
        cache.put(name, principal, generation=cache.generation, expires_at=None, last_used_at=None)
    assert [cache.get(name) is not None for name in ("a", "b", "c")] == [False, True, True]


async def test_uses_are_written_in_one_batch_and_shown_before(stack: Stack) -> None:
    org = await organization(stack.services, "acme")
    key_id, plain = await _key(stack, ["numbers.read"])
    user = await stack.services.auth.verify_credentials("owner@acme.example", PASSWORD)
    assert user is not None
    token_id, token = await stack.services.auth.issue_personal_token(user.id, "laptop")
    await stack.services.auth.flush_last_used()  # the world's own uses are not this test's
    used_at = stack.clock.now()
    for credential in (plain, token, plain, token):
        assert await stack.services.auth.authenticate(credential) is not None
    assert (await stack.services.api_keys.get(org.user, key_id)).last_used_at == used_at  # this process
    async with read_transaction(stack.sessions) as session:
        stored = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))
    assert stored is None  # nothing written per request
    with statements(stack) as seen:
        assert await stack.services.auth.flush_last_used() == 2
    # One transaction (on SQLite, one BEGIN IMMEDIATE) holding both updates and nothing else.
    assert [s.split()[0] for s in seen if not s.startswith("BEGIN")] == ["UPDATE", "UPDATE"]
    assert sum(s.startswith("BEGIN") for s in seen) <= 1
    async with read_transaction(stack.sessions) as session:
        key_used = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))
        token_used = await session.scalar(
            select(PersonalAccessToken.last_used_at).where(PersonalAccessToken.id == token_id)
        )
    assert key_used == token_used == used_at
    assert await stack.services.auth.flush_last_used() == 0  # nothing new: no transaction at all
