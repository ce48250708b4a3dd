"""The one table of who may call what: each route → the auth types it accepts and the permission it needs.

The auth middleware enforces it, the OpenAPI document derives `security` from it, and create_app refuses
to start with a route missing from it (fail closed). It decides nothing about organisations: services do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from gatewayd.errors import Forbidden

if TYPE_CHECKING:
    from gatewayd.services.views import Principal

API_KEY: Final = "api_key"
SANCTUM: Final = "sanctum"
OAUTH: Final = "oauth"
ALL_AUTH_TYPES: Final = frozenset({API_KEY, SANCTUM, OAUTH})

NUMBERS_READ: Final = "numbers.read"
NUMBERS_LOCK: Final = "numbers.lock"
MESSAGES_READ: Final = "messages.read"
WEBHOOKS_RECEIVE: Final = "webhooks.receive"
API_KEY_PERMISSIONS: Final = (NUMBERS_READ, NUMBERS_LOCK, MESSAGES_READ, WEBHOOKS_RECEIVE)


@dataclass(frozen=True, slots=True)
class Access:
    """What a route demands. `auth_types` empty means no bearer token is looked at (public or signed)."""

    auth_types: frozenset[str]
    permission: str | None = None
    # How the route proves the caller when it is not a bearer token (documentation only).
    other_proof: str | None = None
    # Laravel's /broadcasting/auth answers 403, not 401, when no user is authenticated (pusher-js expects it).
    forbid_unauthenticated: bool = False

    @property
    def needs_bearer(self) -> bool:
        return bool(self.auth_types)


PUBLIC: Final = Access(frozenset())
ANY_TOKEN: Final = Access(ALL_AUTH_TYPES)
# "Sanctum only" in ENDPOINTS.md: personal access tokens and OAuth tokens act for a user; API keys do not.
USER_TOKEN: Final = Access(frozenset({SANCTUM, OAUTH}))
# ENDPOINTS.md: logout "revokes the presented personal access token"; OAuth tokens end at /oauth/revoke.
PERSONAL_TOKEN: Final = Access(frozenset({SANCTUM}))
# OAuth tokens carry the `byos` permission only with the `byos` scope (services/oauth.SCOPE_PERMISSIONS).
BYOS_OAUTH: Final = Access(frozenset({OAUTH}), "byos")


def needs(permission: str) -> Access:
    return Access(ALL_AUTH_TYPES, permission)


def signed(proof: str) -> Access:
    return Access(frozenset(), other_proof=proof)


_WEBHOOKS = needs(WEBHOOKS_RECEIVE)
_INTEGRATION = "/api/webhook-integrations/{webhook_integration}"
_MAPPING = _INTEGRATION + "/mappings/{webhook_mapping}"
_DEVICE = "/api/byos/devices/{device}"
_PUSHER_APP = "/apps/{app_id}"
_PUSHER_SIGNATURE = "Pusher HTTP API signature (auth_key, auth_timestamp, body_md5, auth_signature)"

ROUTE_ACCESS: Final[Mapping[tuple[str, str], Access]] = {
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/health/detailed"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/login/2fa"): PUBLIC,
    ("POST", "/api/auth/logout"): PERSONAL_TOKEN,
    ("GET", "/api/user"): ANY_TOKEN,
    ("GET", "/api/sims"): needs(NUMBERS_READ),
    ("GET", "/api/sims/{hosted_sim}"): needs(NUMBERS_READ),
    ("POST", "/api/sims/{hosted_sim}/lock"): needs(NUMBERS_LOCK),
    ("GET", "/api/sims/{hosted_sim}/lock"): needs(NUMBERS_READ),
    ("DELETE", "/api/sims/{hosted_sim}/lock"): needs(NUMBERS_LOCK),
    ("GET", "/api/sims/{hosted_sim}/messages"): needs(MESSAGES_READ),
    ("POST", "/api/sims/{hosted_sim}/messages"): needs(NUMBERS_LOCK),
    ("GET", "/api/api-keys"): USER_TOKEN,
    ("POST", "/api/api-keys"): USER_TOKEN,
    ("GET", "/api/api-keys/{api_key}"): USER_TOKEN,
    ("PUT", "/api/api-keys/{api_key}"): USER_TOKEN,
    ("PATCH", "/api/api-keys/{api_key}"): USER_TOKEN,
    ("DELETE", "/api/api-keys/{api_key}"): USER_TOKEN,
    ("POST", "/api/api-keys/{api_key}/regenerate"): USER_TOKEN,
    ("GET", "/api/webhook-integrations"): _WEBHOOKS,
    ("POST", "/api/webhook-integrations"): _WEBHOOKS,
    ("GET", _INTEGRATION): _WEBHOOKS,
    ("PUT", _INTEGRATION): _WEBHOOKS,
    ("PATCH", _INTEGRATION): _WEBHOOKS,
    ("DELETE", _INTEGRATION): _WEBHOOKS,
    ("POST", _INTEGRATION + "/regenerate-secret"): _WEBHOOKS,
    ("POST", _INTEGRATION + "/test"): _WEBHOOKS,
    ("GET", _INTEGRATION + "/deliveries"): _WEBHOOKS,
    ("GET", _INTEGRATION + "/mappings"): _WEBHOOKS,
    ("POST", _INTEGRATION + "/mappings"): _WEBHOOKS,
    ("GET", _MAPPING): _WEBHOOKS,
    ("PUT", _MAPPING): _WEBHOOKS,
    ("PATCH", _MAPPING): _WEBHOOKS,
    ("DELETE", _MAPPING): _WEBHOOKS,
    ("GET", "/api/websocket-config"): ANY_TOKEN,
    ("POST", "/broadcasting/auth"): Access(ALL_AUTH_TYPES, MESSAGES_READ, forbid_unauthenticated=True),
    ("GET", "/app/{key}"): signed("Pusher channel auth inside the WebSocket (pusher:subscribe)"),
    ("GET", "/reverb/app/{key}"): signed("Pusher channel auth inside the WebSocket (pusher:subscribe)"),
    ("POST", _PUSHER_APP + "/events"): signed(_PUSHER_SIGNATURE),
    ("POST", _PUSHER_APP + "/batch_events"): signed(_PUSHER_SIGNATURE),
    ("GET", _PUSHER_APP + "/channels"): signed(_PUSHER_SIGNATURE),
    ("GET", _PUSHER_APP + "/channels/{channel_name}"): signed(_PUSHER_SIGNATURE),
    ("GET", _PUSHER_APP + "/channels/{channel_name}/users"): signed(_PUSHER_SIGNATURE),
    ("GET", "/oauth/authorize"): signed("browser session cookie (sign-in page)"),
    ("POST", "/oauth/authorize"): signed("browser session cookie and CSRF token (sign-in and consent forms)"),
    ("POST", "/oauth/token"): signed("public client: PKCE code_verifier or refresh_token"),
    ("POST", "/oauth/revoke"): signed("public client: client_id and the token itself (RFC 7009)"),
    ("GET", "/api/byos/devices"): BYOS_OAUTH,
    ("POST", "/api/byos/devices"): BYOS_OAUTH,
    ("GET", _DEVICE): BYOS_OAUTH,
    ("PUT", _DEVICE): BYOS_OAUTH,
    ("DELETE", _DEVICE): BYOS_OAUTH,
    ("POST", _DEVICE + "/disable"): BYOS_OAUTH,
    ("POST", _DEVICE + "/enable"): BYOS_OAUTH,
    ("GET", _DEVICE + "/config"): BYOS_OAUTH,
    ("POST", _DEVICE + "/heartbeat"): BYOS_OAUTH,
    ("POST", _DEVICE + "/messages"): BYOS_OAUTH,
    ("POST", _DEVICE + "/sim-cards"): BYOS_OAUTH,
    ("PUT", _DEVICE + "/sim-cards/{simCard}"): BYOS_OAUTH,
    ("DELETE", _DEVICE + "/sim-cards/{simCard}"): BYOS_OAUTH,
    ("POST", _DEVICE + "/sim-cards/{simCard}/verify"): BYOS_OAUTH,
    ("POST", "/api/webhooks/twilio/sms"): signed("X-Twilio-Signature (HMAC-SHA1 of URL and form, Twilio)"),
}


class UnlistedRoute(LookupError):
    """A route was registered without an entry in ROUTE_ACCESS; the app must not start with it."""


def access_for(method: str, path_template: str) -> Access:
    """The rule of a route; HEAD follows GET (aiohttp adds HEAD beside every GET)."""
    key = ("GET" if method == "HEAD" else method, path_template)
    try:
        return ROUTE_ACCESS[key]
    except KeyError:
        raise UnlistedRoute(f"{method} {path_template} has no entry in ROUTE_ACCESS") from None


def authorize(access: Access, principal: Principal) -> None:
    """Raise Forbidden unless `principal` may call a route with `access` (the token is already valid)."""
    if principal.auth_type not in access.auth_types:
        if principal.auth_type == API_KEY:
            raise Forbidden("This endpoint requires user authentication; API keys are not accepted.")
        raise Forbidden(f"This endpoint does not accept {principal.auth_type} authentication.")
    # An API key carries the permissions it was created with; services give a user token all of them and
    # scope what it reaches by teams and organisation instead.
    if access.permission is not None and access.permission not in principal.permissions:
        if principal.auth_type == API_KEY:
            raise Forbidden(f"This API key does not have the {access.permission} permission.")
        raise Forbidden(f"This token does not have the {access.permission} permission.")
