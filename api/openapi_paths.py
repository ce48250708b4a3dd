"""Every route of ENDPOINTS.md as data: summary, parameters, request body and its own success/error replies.

Security and the common errors (401/403/404/400/422) are not written here: api/openapi.py derives them
from api/permissions.py and from each operation's shape, so the two tables cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from api.openapi_components import (
    ANY_OBJECT,
    BOOLEAN,
    DATE_TIME,
    E164,
    ID,
    PERCENT,
    PERMISSION,
    Schema,
    array,
    data_of,
    integer,
    message_only,
    nullable,
    obj,
    paginated,
    ref,
    string,
)
from api.requests import MAX_PAGE

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html"


@dataclass(frozen=True, slots=True)
class Reply:
    description: str
    schema: Schema | None = None
    media: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)  # header name → description


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: Schema
    description: str


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    tag: str
    summary: str
    replies: Mapping[int, Reply]
    description: str = ""
    body: Schema | None = None
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    query: tuple[Query, ...] = ()


PATH_PARAMETERS: Mapping[str, tuple[Schema, str]] = {
    "hosted_sim": (ID, "Hosted SIM ID"),
    "api_key": (ID, "API key ID"),
    "webhook_integration": (ID, "Webhook integration ID"),
    "webhook_mapping": (ID, "Webhook mapping ID"),
    "device": (ID, "BYOS device ID"),
    "simCard": (ID, "SIM card ID"),
    "key": (string(), "Application key (the `key` of /api/websocket-config)"),
    "app_id": (string(), "Application ID"),
    "channel_name": (string(), "Channel name"),
}

_PAGE = Query("page", integer(minimum=1, maximum=MAX_PAGE, default=1), "Page number (default 1)")
_PER_PAGE_50 = Query("per_page", integer(minimum=1, maximum=100, default=50), "Items per page (default 50)")
_LIMIT = Query("limit", integer(minimum=1, maximum=100, default=50), "Alternative to per_page (default 50)")
_PER_PAGE_15 = Query("per_page", integer(minimum=1, maximum=100, default=15), "Items per page (default 15)")
_PROTOCOL = Query("protocol", integer(), "Pusher protocol version (7)")

_INTEGRATION = "/api/webhook-integrations/{webhook_integration}"
_MAPPING = _INTEGRATION + "/mappings/{webhook_mapping}"
_DEVICE = "/api/byos/devices/{device}"
_APP = "/apps/{app_id}"


def _ok(schema: Schema, description: str = "OK") -> Mapping[int, Reply]:
    return {200: Reply(description, schema)}


def _error(description: str) -> Reply:
    return Reply(description, ref("Error"))


_DELETED = message_only("Deleted successfully.")
# Request bodies stay open: unknown fields are ignored, as Laravel's validated() ignores them.
_PERMISSIONS = {**array(PERMISSION), "minItems": 1}
_API_KEY_BODY = obj({"name": string(minLength=1, maxLength=255), "permissions": _PERMISSIONS},
                    optional=("name", "permissions"), closed=False)
_INTEGRATION_BODY = obj({
    "name": string(maxLength=255), "url": string(format="uri", maxLength=2048),
    "headers": {"type": "object", "additionalProperties": string()},
    "timeout_seconds": integer(minimum=1, maximum=120, default=30),
    "retry_count": integer(minimum=0, maximum=10, default=3), "is_active": BOOLEAN,
}, optional=("headers", "timeout_seconds", "retry_count", "is_active"), closed=False)
_INTEGRATION_SAVED = obj({"message": string(), "data": ref("WebhookIntegration")})
_MAPPING_SAVED = obj({"message": string(), "data": ref("WebhookMapping")})
_MAPPING_LIST = obj({"data": array(ref("WebhookMapping")), "webhook_integration": ref("WebhookIntegration")})
_FORWARDING = string(enum=["always", "lock_required"])
_TEST_RESULT = obj({"success": BOOLEAN, "http_status": nullable(integer()),
                    "response_body": nullable(string()), "response_time_ms": integer(minimum=0)})
_CHANNEL_AUTH = obj({"auth": string(examples=["app-key:5f2b..."]), "channel_data": string()},
                    optional=("channel_data",))
_CHANNEL_AUTH_BODY = obj({"socket_id": string(pattern=r"^\d+\.\d+$"), "channel_name": string()})
_SWITCHING = {101: Reply("Switching Protocols", None)}
_PUSHER_TRIGGER = {200: Reply("Published", obj({})), 401: _error("Bad signature"),
                   404: _error("Unknown application"),
                   422: Reply("Invalid event; `errors` names the field", ref("ValidationError"))}
_PUSHER_READ = {401: _error("Bad signature"), 404: _error("Unknown application")}
_PUSHER_EVENT = obj({"name": string(), "data": string(), "channels": array(string()), "channel": string(),
                     "socket_id": string()}, optional=("channels", "channel", "socket_id"))
_REDIRECT = Reply("Back to redirect_uri with `code` and `state` (or `error`, `error_description`)",
                  string(examples=["302: Found"]), "text/plain", headers={"Location": "redirect"})
_AUTHORIZE_QUERY = (
    Query("response_type", string(const="code"), "Always `code`"),
    Query("client_id", string(), "Registered public client"),
    Query("redirect_uri", string(format="uri"), "Registered redirect URI"),
    Query("code_challenge", string(), "BASE64URL(SHA256(code_verifier))"),
    Query("code_challenge_method", string(const="S256"), "Only S256"),
    Query("state", string(), "Echoed back"), Query("scope", string(), "Requested scopes"),
)
_UNTRUSTED_PAGE = Reply("Unknown client or redirect_uri not registered: an error page, no redirect",
                        string(), HTML)
_AUTHORIZE_NOTES = ("Scopes `mobile:device` (numbers.read, numbers.lock, messages.read) and `byos` (device "
                    "endpoints). PKCE S256 is required for public clients; `plain` is refused. Loopback "
                    "redirects match any port (RFC 8252). The session cookie is HttpOnly, SameSite=Lax.")
_AUTHORIZE_FORM = obj({"csrf_token": string(), "step": string(enum=["sign_in", "totp", "consent"]),
                       "email": string(), "password": string(format="password"), "code": string(),
                       "decision": string(enum=["approve", "deny"])},
                      optional=("email", "password", "code", "decision"), closed=False)
_TOKEN_BODY = obj({
    "grant_type": string(enum=["authorization_code", "refresh_token"]), "client_id": string(),
    "code": string(), "code_verifier": string(pattern="^[A-Za-z0-9._~-]{43,128}$"),
    "redirect_uri": string(format="uri"), "refresh_token": string(), "client_secret": string(),
}, optional=("code", "code_verifier", "redirect_uri", "refresh_token", "client_secret"))
_REVOKE_BODY = obj({"token": string(), "token_type_hint": string(enum=["access_token", "refresh_token"]),
                    "client_id": string()}, optional=("token_type_hint",))
_DEVICE_REPLY = _ok(ref("ByosDevice"))
_DEVICE_STATUS = string(enum=["active", "disabled", "revoked", "pending_verification"])
_BYOS_DEVICE_BODY = obj({
    "android_id": string(pattern="^[0-9a-fA-F]{16}$"),
    "sim_slots": {**array(integer(minimum=1, maximum=10)), "minItems": 1, "maxItems": 2},
    "device_model": string(maxLength=100), "app_version": string(maxLength=50),
    "device_name": string(maxLength=255),
}, optional=("device_name",))
_DEVICE_UPDATE_BODY = obj({"device_name": string(maxLength=255), "phone_number": E164,
                           "app_version": string(maxLength=50)},
                          optional=("device_name", "phone_number", "app_version"))
_DEVICE_CONFIG = obj({"device": ANY_OBJECT, "intervals": ANY_OBJECT, "limits": ANY_OBJECT,
                      "features": ANY_OBJECT, "metadata": ANY_OBJECT}, closed=False)
_HEARTBEAT = obj({"success": BOOLEAN, "next_heartbeat_in": integer(minimum=1), "server_time": DATE_TIME})
_HEARTBEAT_BODY = obj({
    "battery_level": PERCENT, "signal_strength": PERCENT, "is_in_doze_mode": {**BOOLEAN, "default": False},
    "sim_cards": array(obj({"id": ID, "signal_strength": PERCENT}, closed=False)),
}, optional=("battery_level", "signal_strength", "is_in_doze_mode", "sim_cards"))
_DEVICE_SMS_BODY = obj({
    "from": string(maxLength=20), "body": string(maxLength=1600), "message_id": string(format="uuid"),
    "received_at": DATE_TIME, "sim_slot": integer(minimum=1, maximum=2),
}, optional=("received_at", "sim_slot"))
_DEVICE_SMS_QUEUED = obj({"message": string(), "message_id": string(format="uuid")})
_SIM_CARD_BODY = obj({"phone_number": E164, "sim_slot": nullable(integer(minimum=1, maximum=10))},
                     optional=("phone_number", "sim_slot"))
_TWILIO_FORM = obj({name: string() for name in ("From", "To", "Body", "MessageSid", "AccountSid")},
                   optional=("From", "To", "Body", "MessageSid", "AccountSid"), closed=False)
_LOGIN_BODY = obj({"email": string(format="email"), "password": string(format="password"),
                   "device_name": string(maxLength=255)}, optional=("device_name",), closed=False)
_LOCK_CONFLICT = Reply("Another user holds the SIM's lock: who, and until when", ref("LockConflict"))
_THROTTLED = Reply("Too many attempts for this email and address", ref("Error"),
                   headers={"Retry-After": "Seconds until the next attempt is allowed"})
_LOCKED = ref("LockLocked")

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/health", "Health", "Basic health check",
              {200: Reply("Healthy", ref("Health")),
               503: Reply("Database unreachable", ref("HealthFailure"))},
              "200 when the application and its database answer; for load balancers and monitoring."),
    Operation("GET", "/api/health/detailed", "Health", "Detailed health check",
              {200: Reply("Checked", ref("HealthDetailed")),
               503: Reply("Database unreachable", ref("HealthDetailed"))},
              "Database, cache, queue (the database outbox) and modems (online of total)."),
    Operation("POST", "/api/auth/login", "Auth", "Log in with email and password",
              {200: Reply("Signed in, or a second factor is needed",
                          {"oneOf": [ref("LoginToken"), ref("LoginTwoFactorRequired")]}), 429: _THROTTLED},
              "A personal access token, or `2fa_required` with a short-lived single-use `tmp_token`.",
              body=_LOGIN_BODY),
    Operation("POST", "/api/auth/login/2fa", "Auth", "Complete a 2FA login with a TOTP code",
              {200: Reply("Signed in", ref("LoginToken")), 429: _THROTTLED},
              "The `tmp_token` lasts 5 minutes and is spent by a success or by 5 wrong codes.",
              body=obj({"tmp_token": string(), "code": string(description="6-digit TOTP code (RFC 6238)")},
                       closed=False)),
    Operation("POST", "/api/auth/logout", "Auth", "Revoke the presented personal access token",
              _ok(message_only("Logged out successfully."))),
    Operation("GET", "/api/user", "User", "The authenticated user and how they authenticated",
              _ok(ref("CurrentUser")), "`api_key` is null unless the caller used an API key."),
    Operation("GET", "/api/sims", "SIMs", "All SIMs the caller may use", _ok(data_of(array(ref("Sim")))),
              "Through the user's teams and organisation; an API key sees its whole organisation."),
    Operation("GET", "/api/sims/{hosted_sim}", "SIMs", "One SIM", _ok(ref("Sim"))),
    Operation("POST", "/api/sims/{hosted_sim}/lock", "SIM Lock", "Acquire or extend a lock on a SIM",
              {201: Reply("Locked", _LOCKED), 200: Reply("Extended by the same holder", _LOCKED),
               409: _LOCK_CONFLICT},
              "The body may be empty or `{}`: the lock then lasts the configured lifetime (5 minutes by "
              "default). Re-POSTing as the holder extends it.",
              body=obj({"duration_seconds": integer(minimum=1, maximum=86_400,
                                                    description="Lock lifetime, seconds")},
                       optional=("duration_seconds",), closed=False), body_required=False),
    Operation("GET", "/api/sims/{hosted_sim}/lock", "SIM Lock", "Lock status of a SIM",
              _ok({"oneOf": [ref("LockUnlocked"), _LOCKED]})),
    Operation("DELETE", "/api/sims/{hosted_sim}/lock", "SIM Lock", "Release a lock (idempotent)",
              _ok(ref("LockUnlocked")), "403 when another user holds the lock."),
    Operation("GET", "/api/sims/{hosted_sim}/messages", "Messages", "Messages of a SIM, newest first",
              {200: Reply("A page of messages", paginated(ref("Message"))),
               409: _LOCK_CONFLICT}, query=(_PER_PAGE_50, _LIMIT, _PAGE)),
    Operation("POST", "/api/sims/{hosted_sim}/messages", "Messages", "Send an SMS through a SIM",
              {202: Reply("Queued for the gateway that owns the SIM", data_of(ref("Message"))),
               409: Reply("The caller does not hold the SIM's lock (another user's lock is named)",
                          {"anyOf": [ref("Error"), ref("LockConflict")]})},
              "The caller must hold the SIM's lock. `to` is a valid E.164 number; `text` is 1..1600 "
              "characters and at most 10 SMS segments; a BYOS SIM cannot send (422).",
              body=obj({"to": E164, "text": string(minLength=1, maxLength=1600)}, closed=False)),
    Operation("GET", "/api/api-keys", "API Keys", "API keys of the organisation",
              _ok(data_of(array(ref("ApiKey"))))),
    Operation("POST", "/api/api-keys", "API Keys", "Create an API key",
              {201: Reply("Created; the plain key is shown once", ref("ApiKeyWithSecret"))},
              body=obj({"name": string(minLength=1, maxLength=255), "permissions": _PERMISSIONS},
                       closed=False)),
    Operation("GET", "/api/api-keys/{api_key}", "API Keys", "One API key", _ok(ref("ApiKey"))),
    Operation("PUT", "/api/api-keys/{api_key}", "API Keys", "Update an API key", _ok(ref("ApiKey")),
              body=_API_KEY_BODY),
    Operation("PATCH", "/api/api-keys/{api_key}", "API Keys", "Update an API key", _ok(ref("ApiKey")),
              body=_API_KEY_BODY),
    Operation("DELETE", "/api/api-keys/{api_key}", "API Keys", "Delete an API key", _ok(_DELETED)),
    Operation("POST", "/api/api-keys/{api_key}/regenerate", "API Keys", "New secret; the old one stops now",
              _ok(ref("ApiKeyWithSecret"))),
    Operation("GET", "/api/webhook-integrations", "Webhook Integrations", "Webhook integrations",
              _ok(obj({"data": array(ref("WebhookIntegration")), "organization": ref("Organization")}))),
    Operation("POST", "/api/webhook-integrations", "Webhook Integrations", "Create a webhook integration",
              {201: Reply("Created; `secret` is shown once", _INTEGRATION_SAVED)}, body=_INTEGRATION_BODY),
    Operation("GET", _INTEGRATION, "Webhook Integrations", "One integration with its mappings",
              _ok(data_of(ref("WebhookIntegration")))),
    Operation("PUT", _INTEGRATION, "Webhook Integrations", "Update an integration", _ok(_INTEGRATION_SAVED),
              body=_INTEGRATION_BODY),
    Operation("PATCH", _INTEGRATION, "Webhook Integrations", "Update an integration", _ok(_INTEGRATION_SAVED),
              body={**_INTEGRATION_BODY, "required": []}),
    Operation("DELETE", _INTEGRATION, "Webhook Integrations", "Delete an integration and its mappings",
              _ok(_DELETED)),
    Operation("POST", _INTEGRATION + "/regenerate-secret", "Webhook Integrations", "New secret, shown once",
              _ok(_INTEGRATION_SAVED)),
    Operation("POST", _INTEGRATION + "/test", "Webhook Integrations", "Send a signed webhook.test event now",
              _ok(_TEST_RESULT)),
    Operation("GET", _INTEGRATION + "/deliveries", "Webhook Integrations", "Delivery log of an integration",
              _ok(paginated(ref("WebhookDelivery"))), query=(_PER_PAGE_50, _PAGE)),
    Operation("GET", _INTEGRATION + "/mappings", "Webhook Mappings", "Mappings of an integration",
              _ok(_MAPPING_LIST)),
    Operation("POST", _INTEGRATION + "/mappings", "Webhook Mappings", "Map a team to the integration",
              {201: Reply("Created", _MAPPING_SAVED)},
              body=obj({"team_id": ID, "forwarding_mode": _FORWARDING})),
    Operation("GET", _MAPPING, "Webhook Mappings", "One mapping", _ok(data_of(ref("WebhookMapping")))),
    Operation("PUT", _MAPPING, "Webhook Mappings", "Update a mapping", _ok(_MAPPING_SAVED),
              body=obj({"forwarding_mode": _FORWARDING, "is_active": BOOLEAN}, optional=("is_active",))),
    Operation("PATCH", _MAPPING, "Webhook Mappings", "Update a mapping", _ok(_MAPPING_SAVED),
              body=obj({"forwarding_mode": _FORWARDING, "is_active": BOOLEAN},
                       optional=("forwarding_mode", "is_active"))),
    Operation("DELETE", _MAPPING, "Webhook Mappings", "Delete a mapping", _ok(_DELETED)),
    Operation("GET", "/api/websocket-config", "WebSocket", "How to connect to the real-time feed",
              _ok(ref("WebsocketConfig"))),
    Operation("POST", "/broadcasting/auth", "WebSocket", "Sign a private-channel subscription",
              _ok(_CHANNEL_AUTH), "403 for a channel that is not the caller's.", body=_CHANNEL_AUTH_BODY,
              body_media=(JSON, FORM)),
    Operation("GET", "/app/{key}", "WebSocket", "Pusher protocol 7 WebSocket (Laravel Reverb dialect)",
              _SWITCHING, "Channels, events and error codes as Laravel Reverb.", query=(_PROTOCOL,)),
    Operation("GET", "/reverb/app/{key}", "WebSocket", "The WebSocket under the SimRelay clients' prefix",
              _SWITCHING, query=(_PROTOCOL,)),
    Operation("POST", _APP + "/events", "WebSocket", "Publish an event (Pusher HTTP API)", _PUSHER_TRIGGER,
              body=_PUSHER_EVENT),
    Operation("POST", _APP + "/batch_events", "WebSocket", "Publish several events (Pusher HTTP API)",
              _PUSHER_TRIGGER, body=obj({"batch": array(ANY_OBJECT)})),
    Operation("GET", _APP + "/channels", "WebSocket", "Occupied channels (Pusher HTTP API)",
              {200: Reply("Channels", obj({"channels": ANY_OBJECT}, closed=False)), **_PUSHER_READ}),
    Operation("GET", _APP + "/channels/{channel_name}", "WebSocket", "One channel (Pusher HTTP API)",
              {200: Reply("Channel", obj({"occupied": BOOLEAN}, closed=False)), **_PUSHER_READ}),
    Operation("GET", _APP + "/channels/{channel_name}/users", "WebSocket", "Presence members (Pusher API)",
              {200: Reply("Users", obj({"users": array(obj({"id": string()}))})), **_PUSHER_READ}),
    Operation("GET", "/oauth/authorize", "OAuth", "Authorization code + PKCE (S256): sign-in and consent",
              {200: Reply("Sign-in, TOTP or consent page", string(), HTML), 302: _REDIRECT,
               400: _UNTRUSTED_PAGE}, _AUTHORIZE_NOTES, query=_AUTHORIZE_QUERY),
    Operation("POST", "/oauth/authorize", "OAuth", "Submit the sign-in, TOTP or consent form",
              {200: Reply("Next page of the flow (or the same page with the error)", string(), HTML),
               302: _REDIRECT, 400: _UNTRUSTED_PAGE,
               403: Reply("CSRF check failed (no session cookie or a wrong csrf_token)", string(), HTML)},
              "The form posts back to the same URL (the authorization request stays in the query).",
              body=_AUTHORIZE_FORM, body_media=(FORM,), query=_AUTHORIZE_QUERY),
    Operation("POST", "/oauth/token", "OAuth", "Exchange a code or a refresh token",
              {200: Reply("Access 15 days, refresh 30 days (rotates)", ref("OAuthTokens")),
               400: Reply("RFC 6749 error (a reused code or refresh token also revokes what it issued)",
                          ref("OAuthError")),
               401: Reply("invalid_client with HTTP Basic credentials", ref("OAuthError"))},
              body=_TOKEN_BODY, body_media=(FORM,)),
    Operation("POST", "/oauth/revoke", "OAuth", "Revoke a token and its refresh family (RFC 7009)",
              {200: Reply("Revoked, or unknown (RFC 7009 §2.2)", obj({}))}, body=_REVOKE_BODY,
              body_media=(FORM,)),
    Operation("GET", "/api/byos/devices", "BYOS Devices", "BYOS devices of the caller's organisations",
              _ok(paginated(ref("ByosDevice"))),
              query=(Query("status", _DEVICE_STATUS, "Filter by status"), _PER_PAGE_15, _PAGE)),
    Operation("POST", "/api/byos/devices", "BYOS Devices", "Register a device and its SIM slots",
              {201: Reply("Pending verification: SMS each code to twilio_number", ref("ByosDevice"))},
              "Each declared slot gets a verification code `SR-XXXX`, valid 5 minutes.",
              body=_BYOS_DEVICE_BODY),
    Operation("GET", _DEVICE, "BYOS Devices", "Device details", _DEVICE_REPLY),
    Operation("PUT", _DEVICE, "BYOS Devices", "Update device metadata", _DEVICE_REPLY,
              "A phone number change is copied to the hosted SIM.", body=_DEVICE_UPDATE_BODY),
    Operation("DELETE", _DEVICE, "BYOS Devices", "Delete a device (message logs are kept)", _ok(_DELETED)),
    Operation("POST", _DEVICE + "/disable", "BYOS Devices", "Disable a device", _DEVICE_REPLY),
    Operation("POST", _DEVICE + "/enable", "BYOS Devices", "Enable a device", _DEVICE_REPLY),
    Operation("GET", _DEVICE + "/config", "BYOS Devices", "Server configuration for the device",
              _ok(_DEVICE_CONFIG)),
    Operation("POST", _DEVICE + "/heartbeat", "BYOS Devices", "Device heartbeat", _ok(_HEARTBEAT),
              "Offline after 360 s without one (960 s in Doze mode).", body=_HEARTBEAT_BODY,
              body_required=False),
    Operation("POST", _DEVICE + "/messages", "BYOS Devices", "Submit a received SMS (idempotent: message_id)",
              {202: Reply("Queued", _DEVICE_SMS_QUEUED)}, body=_DEVICE_SMS_BODY),
    Operation("POST", _DEVICE + "/sim-cards", "BYOS Devices", "Add a SIM slot, pending verification",
              {201: Reply("Pending: SMS the code to twilio_number within 5 min", ref("ByosPendingSimCard"))},
              body=obj({"sim_slot": integer(minimum=1, maximum=10)})),
    Operation("PUT", _DEVICE + "/sim-cards/{simCard}", "BYOS Devices", "Update a SIM card",
              _ok(ref("ByosSimCard")), body=_SIM_CARD_BODY),
    Operation("DELETE", _DEVICE + "/sim-cards/{simCard}", "BYOS Devices", "Deactivate a SIM card",
              _ok(ref("ByosSimCard"))),
    Operation("POST", _DEVICE + "/sim-cards/{simCard}/verify", "BYOS Devices", "New verification code",
              {200: Reply("A new code, valid 5 minutes", ref("ByosPendingSimCard")),
               422: Reply("The card is already active", ref("ValidationError"))},
              "422 on a card that is already active."),
    Operation("POST", "/api/webhooks/twilio/sms", "Webhooks", "Twilio inbound SMS (BYOS verification codes)",
              {200: Reply("Empty TwiML", string(examples=["<Response></Response>"]), "text/xml"),
               403: _error("Bad X-Twilio-Signature")}, body=_TWILIO_FORM, body_media=(FORM,)),
    Operation("GET", "/metrics", "Operations", "Prometheus metrics",
              {200: Reply("Exposition format 0.0.4", string(), "text/plain")}),
    Operation("GET", "/api/openapi.json", "Operations", "This document", _ok({"type": "object"})),
    Operation("GET", "/docs", "Operations", "This document as a readable HTML page",
              {200: Reply("HTML", string(), HTML)}),
)
