"""API keys of the caller's organisation: list, create, show, update, delete, regenerate.

Keys are `sk_live_` + 256 random bits, stored as SHA-256 with a visible prefix; the plain key exists only
in the answer that creates or regenerates it. A key of another organisation is NotFound, never Forbidden.
No caller grants what it does not hold: an OAuth token acts within its scopes (a phone's `byos` token may
not mint a key that reads messages), so creating, widening or regenerating a key needs every permission
the key would carry; a personal access token holds them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Forbidden, NotFound, ValidationFailed
from gatewayd.services.accounts import api_key_view
from gatewayd.services.auth import AuthService, api_key_prefix, new_api_key, sha256_hex
from gatewayd.services.permissions import validated_permissions
from gatewayd.services.views import ApiKeyView, Principal
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import ApiKey

MAX_NAME_CHARS = 255


def _name(name: str) -> str:
    stripped = name.strip()
    if not stripped:
        raise ValidationFailed({"name": ["The name field is required."]})
    if len(stripped) > MAX_NAME_CHARS:
        raise ValidationFailed({"name": [f"The name field must not be greater than {MAX_NAME_CHARS} "
                                         "characters."]})
    return stripped


def _held_by_caller(principal: Principal, permissions: Sequence[str]) -> None:
    missing = [permission for permission in permissions if permission not in principal.permissions]
    if missing:
        raise Forbidden(f"This token does not hold {', '.join(missing)}, so it cannot give it to an API key.")


async def _key_in_org(session: AsyncSession, principal: Principal, key_id: int) -> ApiKey:
    key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == principal.organization_id)
    )
    if key is None:
        raise NotFound(f"No API key {key_id} in organisation {principal.organization_id}.")
    return key


class ApiKeyService:
    """Every change to a key clears `auth`'s principal cache, so this process stops honouring the old
    secret or permissions at once (see services/auth.py for the bound on other processes)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, auth: AuthService) -> None:
        self._sessions = sessions
        self._clock = clock
        self._auth = auth

    def _view(self, key: ApiKey) -> ApiKeyView:
        """The stored key with a use this process noted but has not written yet (batched writes)."""
        view = api_key_view(key)
        pending = self._auth.pending_api_key_use(key.id)
        if pending is not None and (view.last_used_at is None or view.last_used_at < pending):
            return replace(view, last_used_at=pending)
        return view

    async def list_for(self, principal: Principal) -> list[ApiKeyView]:
        async with read_transaction(self._sessions) as session:
            keys = await session.scalars(
                select(ApiKey).where(ApiKey.organization_id == principal.organization_id).order_by(ApiKey.id)
            )
            return [self._view(key) for key in keys]

    async def create(self, principal: Principal, *, name: str,
                     permissions: Sequence[str]) -> tuple[ApiKeyView, str]:
        """A new key owned by the caller in their organisation: (view, plain key shown once)."""
        clean_name, clean_permissions = _name(name), validated_permissions(permissions)
        _held_by_caller(principal, clean_permissions)
        plain = new_api_key()
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            key = ApiKey(organization_id=principal.organization_id, user_id=principal.user_id,
                         name=clean_name, key_prefix=api_key_prefix(plain), secret_hash=sha256_hex(plain),
                         permissions=clean_permissions, last_used_at=None, created_at=now, updated_at=now)
            session.add(key)
            await session.flush()
        return self._view(key), plain

    async def get(self, principal: Principal, key_id: int) -> ApiKeyView:
        async with read_transaction(self._sessions) as session:
            return self._view(await _key_in_org(session, principal, key_id))

    async def update(self, principal: Principal, key_id: int, *, name: str | None,
                     permissions: Sequence[str] | None) -> ApiKeyView:
        """Change the name and/or permissions; a field left None keeps its value."""
        clean_name = _name(name) if name is not None else None
        clean_permissions = validated_permissions(permissions) if permissions is not None else None
        async with write_transaction(self._sessions) as session:
            key = await _key_in_org(session, principal, key_id)
            if clean_permissions is not None:
                _held_by_caller(principal, clean_permissions)
            if clean_name is not None:
                key.name = clean_name
            if clean_permissions is not None:
                key.permissions = clean_permissions
            key.updated_at = self._clock.now()
        self._auth.forget_credentials()
        return self._view(key)

    async def delete(self, principal: Principal, key_id: int) -> None:
        async with write_transaction(self._sessions) as session:
            key = await _key_in_org(session, principal, key_id)
            await session.execute(delete(ApiKey).where(ApiKey.id == key.id))
        self._auth.forget_credentials()

    async def regenerate(self, principal: Principal, key_id: int) -> tuple[ApiKeyView, str]:
        """A new secret for the key; the old one matches nothing from the commit on."""
        plain = new_api_key()
        async with write_transaction(self._sessions) as session:
            key = await _key_in_org(session, principal, key_id)
            _held_by_caller(principal, key.permissions)  # the new secret is the key's whole power
            key.secret_hash = sha256_hex(plain)
            key.key_prefix = api_key_prefix(plain)
            key.updated_at = self._clock.now()
        self._auth.forget_credentials()
        return self._view(key), plain
