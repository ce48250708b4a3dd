"""Two organisations with one of everything (keys, tokens, OAuth tokens, webhooks, BYOS devices) and the
dead credentials the audit tests need, built once per session on top of the seeded database.

It only creates data through the services; it asserts nothing about routes (the audit tests do).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.permissions import API_KEY, SANCTUM
from api.pusher import PusherServer, PusherSettings, Realtime
from api.pusher.hub import LocalHub
from api.settings import ApiSettings
from api.websocket_config import WebsocketConfig, public_endpoint
from gatewayd.clock import ManualClock
from gatewayd.delivery.destinations import DestinationPolicy
from gatewayd.services.container import Services, build_services
from gatewayd.services.device_views import ByosOptions
from gatewayd.services.oauth import SCOPE_PERMISSIONS
from gatewayd.services.oauth_grants import SCOPE_BYOS, SCOPE_MOBILE
from gatewayd.services.permissions import Permission
from gatewayd.services.webhooks import IntegrationInput, WebhookOptions
from gatewayd.store.engine import create_engine, session_factory
from tests.api.conftest import ALL_PERMISSIONS, NOW, PASSWORD, ClientFactory, Seeded
from tests.api.contract import ApiClient, Contract
from tests.services.world import OAUTH_REDIRECT
from tests.services.world import oauth_tokens as grant

# Fixed, so that secrets sealed while building the template open in every test's own services.
SERVER_KEY = b"ZmFrZS1zZXJ2ZXIta2V5LWZvci1hdWRpdC10ZXN0cyE="
TWILIO_NUMBER = "+12025551234"
TWILIO_TOKEN = "twilio-auth-token-for-audit"
REDIRECT = OAUTH_REDIRECT
PUSHER = PusherSettings(app_id="424242", app_key="audit-key", app_secret="audit-secret-0123456789")
OAUTH_ACCESS_LIFETIME = timedelta(days=15)


@dataclass(frozen=True)
class Org:
    """One organisation's ids and live credentials."""

    name: str
    user_id: int
    team_id: int  # a team without mappings ("support"), for creating one
    mapped_team_id: int  # a team ("sales") that `mapping` maps to `hook`
    sim: int  # a hosted SIM with messages
    key: str  # API key with every permission
    key_id: int  # another key of the org, safe to delete or regenerate
    token: str  # personal access token of the owner
    mobile_oauth: str  # OAuth access token, scope "mobile"
    byos_oauth: str  # OAuth access token, scope "byos"; its family registered `device`
    hook: int
    mapping: int
    device: int
    card: int  # the pending SIM card of `device` (slot 2; slot 1 is verified)


@dataclass(frozen=True)
class DeadCredentials:
    """Tokens of acme's owner that must all be refused with 401 (never 403, never a 500)."""

    revoked_token: str
    expired_token: str
    regenerated_key: str  # the plain key from before a regeneration
    deleted_key: str
    revoked_oauth: str
    expired_oauth: str
    refresh_token: str  # an OAuth refresh token presented as a bearer token
    wrong_secret_token: str  # a live token's id with another secret


@dataclass(frozen=True)
class Cast:
    a: Org  # acme: the organisation whose objects the other one must never reach
    b: Org  # globex
    dead: DeadCredentials
    lacking: dict[str, str]  # permission → an acme API key holding every permission but that one


async def oauth_tokens(services: Services, email: str, scope: str) -> tuple[str, str, str]:
    """(access token, refresh token, client_id) through the real authorization-code grant with PKCE."""
    return await grant(services, email, scope, client_name="Audit app")


def audit_services(sessions: object, clock: ManualClock) -> Services:
    return build_services(
        sessions,  # type: ignore[arg-type]
        clock,
        webhooks=WebhookOptions(SERVER_KEY, DestinationPolicy(allow_private_networks=True, allow_http=True)),
        byos=ByosOptions(twilio_number=TWILIO_NUMBER, twilio_auth_token=TWILIO_TOKEN),
    )


async def _org(services: Services, name: str, sim: int, key: str, phone: str) -> Org:
    email = f"owner@{name}.example"
    user = await services.auth.verify_credentials(email, PASSWORD)
    assert user is not None
    team = await services.admin.create_team(name, "sales")
    spare_team = await services.admin.create_team(name, "support")
    target, _ = await services.admin.create_api_key(org=name, user_email=email, name="target",
                                                    permissions=["numbers.read"])
    _, token = await services.auth.issue_personal_token(user.id, "audit")
    mobile, _, _ = await oauth_tokens(services, email, SCOPE_MOBILE)
    byos, _, _ = await oauth_tokens(services, email, SCOPE_BYOS)
    key_principal = await services.auth.authenticate(key)
    assert key_principal is not None
    hook, _ = await services.webhooks.create(key_principal, IntegrationInput(
        name=f"{name} hook", url="http://127.0.0.1:9/hook", given=frozenset({"name", "url"})))
    mapping = await services.webhooks.create_mapping(key_principal, hook.id, team_id=team.id,
                                                     forwarding_mode="always")
    byos_principal = await services.auth.authenticate(byos)
    assert byos_principal is not None
    device = await services.devices.register(byos_principal, android_id=uuid.uuid4().hex[:16],
                                             sim_slots=[1, 2], device_model="SM-S921B", app_version="1.2.3",
                                             device_name=f"{name} phone")
    # Verified, as Twilio would (the signature is the route's business, tested elsewhere).
    await services.twilio.receive({"From": phone, "To": TWILIO_NUMBER, "MessageSid": f"SM{name}",
                                   "Body": device.pending[0].verification_code,
                                   "AccountSid": "AC" + "0" * 32})
    return Org(name=name, user_id=user.id, team_id=spare_team.id, mapped_team_id=team.id, sim=sim, key=key,
               key_id=target.id, token=token,
               mobile_oauth=mobile, byos_oauth=byos, hook=hook.id, mapping=mapping.id, device=device.id,
               card=device.pending[1].id)


async def _dead(services: Services, expired_services: Services, acme: Org) -> DeadCredentials:
    email = "owner@acme.example"
    revoked_id, revoked = await services.auth.issue_personal_token(acme.user_id, "revoked")
    await services.auth.revoke_personal_token(revoked_id)
    _, expired = await services.auth.issue_personal_token(acme.user_id, "expired",
                                                          expires_at=NOW - timedelta(seconds=1))
    owner = await services.auth.authenticate(acme.token)
    assert owner is not None
    regenerated_view, regenerated = await services.admin.create_api_key(
        org="acme", user_email=email, name="regenerated", permissions=ALL_PERMISSIONS)
    await services.api_keys.regenerate(owner, regenerated_view.id)
    deleted_view, deleted = await services.admin.create_api_key(
        org="acme", user_email=email, name="deleted", permissions=ALL_PERMISSIONS)
    await services.api_keys.delete(owner, deleted_view.id)
    revoked_oauth, _, client_id = await oauth_tokens(services, email, f"{SCOPE_MOBILE} {SCOPE_BYOS}")
    await services.oauth.revoke(revoked_oauth, client_id)
    expired_oauth, _, _ = await oauth_tokens(expired_services, email, f"{SCOPE_MOBILE} {SCOPE_BYOS}")
    _, refresh, _ = await oauth_tokens(services, email, f"{SCOPE_MOBILE} {SCOPE_BYOS}")
    token_id = acme.token.partition("|")[0]
    return DeadCredentials(revoked_token=revoked, expired_token=expired, regenerated_key=regenerated,
                           deleted_key=deleted, revoked_oauth=revoked_oauth, expired_oauth=expired_oauth,
                           refresh_token=refresh, wrong_secret_token=f"{token_id}|{'x' * 43}")


async def _build(path: Path, seeded: Seeded) -> Cast:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        sessions = session_factory(engine)
        services = audit_services(sessions, ManualClock(NOW))
        # Issued a day more than a lifetime ago, so it has expired by NOW.
        issued_long_ago = ManualClock(NOW - OAUTH_ACCESS_LIFETIME - timedelta(days=1))
        expired_services = audit_services(sessions, issued_long_ago)
        acme = await _org(services, "acme", seeded.acme_sim, seeded.acme_key, "+14155550101")
        globex = await _org(services, "globex", seeded.globex_sim, seeded.globex_key, "+14155550102")
        lacking = {}
        for permission in ALL_PERMISSIONS:
            _, plain = await services.admin.create_api_key(
                org="acme", user_email="owner@acme.example", name=f"without {permission}",
                permissions=[p for p in ALL_PERMISSIONS if p != permission])
            lacking[permission] = plain
        return Cast(acme, globex, await _dead(services, expired_services, acme), lacking)
    finally:
        await engine.dispose()


def build_template(seeded_database: tuple[Path, Seeded], directory: Path) -> tuple[Path, Cast]:
    """A copy of the seeded database with the cast added (run once per session: Argon2 is slow)."""
    source, seeded = seeded_database
    path = directory / "audit.db"
    shutil.copyfile(source, path)
    return path, asyncio.run(_build(path, seeded))


Route = tuple[str, str]


def org_ids(org: Org) -> dict[str, int]:
    """Every path parameter of the table that names an organisation's object → that object of `org`."""
    return {"hosted_sim": org.sim, "api_key": org.key_id, "webhook_integration": org.hook,
            "webhook_mapping": org.mapping, "device": org.device, "simCard": org.card}


def valid_body(method: str, template: str, caller: Org) -> dict[str, Any] | None:
    """A body that would succeed for the owner, so only the organisation check can refuse it."""
    bodies: dict[Route, dict[str, Any] | None] = {
        ("POST", "/api/sims/{hosted_sim}/lock"): {},
        ("POST", "/api/sims/{hosted_sim}/messages"): {"to": "+447911123456", "text": "hi"},
        ("PUT", "/api/api-keys/{api_key}"): {"name": "renamed"},
        ("PATCH", "/api/api-keys/{api_key}"): {"name": "renamed"},
        ("POST", "/api/api-keys/{api_key}/regenerate"): None,
        ("PUT", "/api/webhook-integrations/{webhook_integration}"): {"name": "renamed",
                                                                     "url": "http://127.0.0.1:9/h"},
        ("PATCH", "/api/webhook-integrations/{webhook_integration}"): {"name": "renamed"},
        ("POST", "/api/webhook-integrations/{webhook_integration}/regenerate-secret"): None,
        ("POST", "/api/webhook-integrations/{webhook_integration}/test"): None,
        ("POST", "/api/webhook-integrations/{webhook_integration}/mappings"): {
            "team_id": caller.team_id, "forwarding_mode": "always"},
        ("PUT", "/api/webhook-integrations/{webhook_integration}/mappings/{webhook_mapping}"): {
            "forwarding_mode": "lock_required"},
        ("PATCH", "/api/webhook-integrations/{webhook_integration}/mappings/{webhook_mapping}"): {
            "forwarding_mode": "lock_required"},
        ("PUT", "/api/byos/devices/{device}"): {"device_name": "renamed"},
        ("POST", "/api/byos/devices/{device}/disable"): None,
        ("POST", "/api/byos/devices/{device}/enable"): None,
        ("POST", "/api/byos/devices/{device}/heartbeat"): {"battery_level": 50},
        ("POST", "/api/byos/devices/{device}/messages"): {"from": "+19876543210", "body": "hi",
                                                          "message_id": str(uuid.uuid4())},
        ("POST", "/api/byos/devices/{device}/sim-cards"): {"sim_slot": 3},
        ("PUT", "/api/byos/devices/{device}/sim-cards/{simCard}"): {"phone_number": "+14155550000"},
        ("POST", "/api/byos/devices/{device}/sim-cards/{simCard}/verify"): None,
    }
    if method in ("GET", "DELETE"):
        return None
    if (method, template) not in bodies:
        pytest.fail(f"{method} {template} takes a body and has no entry in valid_body(): add one")
    return bodies[(method, template)]


def can_hold(auth_type: str, permission: str | None) -> bool:
    """Whether some credential of `auth_type` can hold `permission` (else the route is always a 403)."""
    if permission is None or auth_type == SANCTUM:
        return True
    if auth_type == API_KEY:
        return permission in {p.value for p in Permission}
    return any(permission in granted for granted in SCOPE_PERMISSIONS.values())


def caller_token(org: Org, auth_type: str, permission: str | None) -> str | None:
    """`org`'s strongest credential of `auth_type` for a route needing `permission`; None when that auth
    type can never hold the permission (then the route answers 403 before any id is read)."""
    if not can_hold(auth_type, permission):
        return None
    if auth_type == API_KEY:
        return org.key
    if auth_type == SANCTUM:
        return org.token
    # The mobile token first: it holds more (a route handing out a key's power needs what the key holds).
    for scope, token in ((SCOPE_MOBILE, org.mobile_oauth), (SCOPE_BYOS, org.byos_oauth)):
        if permission is None or permission in SCOPE_PERMISSIONS[scope]:
            return token
    raise AssertionError(f"no OAuth token of the cast holds {permission}")


def fill(template: str, ids: dict[str, int]) -> str:
    path = template
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path



@dataclass(frozen=True)
class Audit:
    api: ApiClient
    raw: TestClient  # type: ignore[type-arg]
    services: Services
    clock: ManualClock
    cast: Cast


@asynccontextmanager
async def open_audit(template: tuple[Path, Cast], tmp_path: Path, contract: Contract,
                     aiohttp_client: ClientFactory,
                     settings: ApiSettings | None = None) -> AsyncIterator[Audit]:
    """The whole app (realtime included) over a private copy of the template database."""
    source, cast = template
    copy = tmp_path / "audit.db"
    shutil.copyfile(source, copy)
    engine = create_engine(f"sqlite+aiosqlite:///{copy}")
    clock = ManualClock(NOW)
    try:
        services = audit_services(session_factory(engine), clock)
        realtime = Realtime(PusherServer(PUSHER, LocalHub()),
                            WebsocketConfig(PUSHER.app_key, public_endpoint("http://gw.example:8080")))
        app = create_app(services, settings or ApiSettings(), clock=clock, realtime=realtime)
        client = await aiohttp_client(app)
        yield Audit(ApiClient(client, contract), client, services, clock, cast)
    finally:
        await engine.dispose()
