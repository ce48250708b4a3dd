"""Reusable OpenAPI 3.1 schemas (`components.schemas`) and the small builders the path table uses.

Data only. Objects our routes already produce are closed (`additionalProperties: false`) so the tests
that validate every response catch a serialiser that drifts from the document.
"""

from __future__ import annotations

from typing import Any

from api.permissions import API_KEY_PERMISSIONS

Schema = dict[str, Any]

DATE_TIME: Schema = {"type": "string", "format": "date-time", "examples": ["2026-05-11T14:30:00Z"]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    return {**schema, "type": [*kind, "null"] if isinstance(kind, list) else [kind, "null"]}


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (), closed: bool = True,
        description: str | None = None) -> Schema:
    """An object whose properties are all required except `optional`."""
    schema: Schema = {"type": "object", "properties": properties,
                      "required": [name for name in properties if name not in optional]}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def string(*, description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def integer(*, minimum: int | None = None, maximum: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def message_only(example: str) -> Schema:
    return obj({"message": string(examples=[example])})


def data_of(schema: Schema) -> Schema:
    return obj({"data": schema})


def paginated(item: Schema) -> Schema:
    return obj({"data": array(item), "meta": ref("PaginationMeta"), "links": ref("PaginationLinks")})


ID = integer(minimum=1)
PERCENT = integer(minimum=0, maximum=100)
BOOLEAN: Schema = {"type": "boolean"}
PERMISSION = string(enum=list(API_KEY_PERMISSIONS))
E164 = string(pattern=r"^\+[1-9]\d{1,14}$", examples=["+14155551234"], description="E.164 phone number")
ANY_OBJECT: Schema = {"type": "object"}

_SIM = obj({
    "id": ID,
    "phone_number": nullable(string(examples=["+4915112345678"])),
    "seven_system_number": nullable(string(description="Same value as phone_number (clients read it).")),
    "status": string(enum=["active", "locked", "offline", "disabled"]),
    "country": nullable(string(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2")),
    "provider": nullable(string(description="Network operator")),
    "type": string(enum=["physical", "byos"]),
    "organizations": array(obj({"id": ID, "name": string(), "alias": nullable(string()),
                                "team_id": nullable(ID)})),
    "teams": array(ref("Team")),
    "messages_received_count": integer(minimum=0),
    "signal_strength": nullable(integer(minimum=0, maximum=100)),
    "last_seen_at": nullable(DATE_TIME),
    "slot": nullable(string(description="Gateway extension: bank/slot label of the modem holding the SIM.")),
    "iccid": nullable(string(description="Gateway extension: the SIM's ICCID.")),
})

_MESSAGE = obj({
    "id": ID,
    "hosted_sim_id": nullable(ID),
    "direction": string(enum=["inbound", "outbound"]),
    "from": nullable(string()),
    "to": nullable(string()),
    "text": nullable(string(description="Null only for a binary (8-bit data) message; see data_base64.")),
    "received_at": nullable(DATE_TIME),
    "sent_at": nullable(DATE_TIME),
    "status": nullable(string(enum=["received", "queued", "sending", "sent", "delivered", "failed"])),
    "segments": integer(minimum=0),
    "created_at": DATE_TIME,
    "encoding": string(description="Gateway extension: gsm7, ucs2 or 8bit (3GPP TS 23.038)."),
    "data_base64": nullable(string(contentEncoding="base64",
                                   description="Gateway extension: raw user data of an 8-bit message.")),
})

_API_KEY = obj({
    "id": ID, "name": string(examples=["Production API Key"]),
    "key_prefix": string(examples=["sk_live_1234"]),
    "permissions": array(PERMISSION), "last_used_at": nullable(DATE_TIME), "created_at": DATE_TIME,
    "updated_at": DATE_TIME,
})

_USER = obj({"id": ID, "name": string(), "email": string(format="email"), "two_factor_enabled": BOOLEAN,
             "created_at": DATE_TIME, "updated_at": DATE_TIME})

_HEALTH_CHECK = obj({"status": string(enum=["ok", "warning", "error"]), "message": string(),
                     "error": string()}, optional=("error",))

_LOCKED = obj({"status": string(const="locked"), "lock_id": ID, "user_id": ID, "user_name": string(),
               "expires_at": DATE_TIME}, closed=False)

_WEBHOOK_INTEGRATION = obj({
    "id": ID, "name": string(maxLength=255), "url": string(format="uri", maxLength=2048),
    "headers": {"type": "object", "additionalProperties": string()},
    "timeout_seconds": integer(minimum=1, maximum=120), "retry_count": integer(minimum=0, maximum=10),
    "is_active": BOOLEAN, "created_at": DATE_TIME, "updated_at": DATE_TIME,
    "secret": string(description="Only in the responses that create or regenerate it (64 hex digits).",
                     pattern="^[0-9a-f]{64}$"),
    "mappings": array(ref("WebhookMapping")),
}, optional=("secret", "mappings"))

_WEBHOOK_MAPPING = obj({
    "id": ID, "webhook_integration_id": ID, "team_id": ID,
    "forwarding_mode": string(enum=["always", "lock_required"]), "is_active": BOOLEAN,
    "created_at": DATE_TIME, "updated_at": DATE_TIME,
})

_WEBHOOK_DELIVERY = obj({
    "id": ID,
    "event": string(enum=["message.inbound", "message.delivery", "number.locked", "number.unlocked",
                          "webhook.test"]),
    "event_id": string(format="uuid", description="X-Simrelay-Delivery; the same on every attempt"),
    "attempt": integer(minimum=1, description="Attempts started so far (1 before the first)"),
    "status": string(enum=["pending", "delivered", "failed"]),
    "http_status": nullable(integer(minimum=100, maximum=599)),
    "error": nullable(string(description="Why the last attempt failed: timeout, connection, HTTP status")),
    "next_attempt_at": nullable(DATE_TIME), "delivered_at": nullable(DATE_TIME), "created_at": DATE_TIME,
    "response_time_ms": nullable(integer(minimum=0, description="Duration of the last attempt")),
    "response_body": nullable(string(description="First KB of the last attempt's response body")),
})

_BYOS_SIM_CARD = obj({
    "id": ID, "phone_number": nullable(E164), "sim_slot": nullable(integer(minimum=1, maximum=10)),
    "status": string(enum=["pending", "active", "inactive"]), "signal_strength": nullable(PERCENT),
    "is_active": BOOLEAN, "hosted_sim_id": nullable(ID), "created_at": DATE_TIME, "updated_at": DATE_TIME,
}, closed=False)

_BYOS_PENDING_SIM_CARD = obj({
    "id": ID, "sim_slot": integer(minimum=1, maximum=10), "phone_number": nullable(string()),
    "status": string(enum=["pending", "inactive"]), "verification_code": string(pattern="^SR-[A-Z0-9]{4}$"),
    "twilio_number": E164,
}, closed=False)

_BYOS_DEVICE = obj({
    "id": ID, "android_id": string(pattern="^[0-9a-fA-F]{16}$"), "phone_number": nullable(string()),
    "device_name": nullable(string(maxLength=255)),
    "status": string(enum=["active", "disabled", "revoked", "pending_verification"]), "is_online": BOOLEAN,
    "twilio_number": nullable(E164), "sim_cards": array(ref("ByosSimCard")), "device_model": string(),
    "app_version": string(), "config_version": integer(), "battery_level": nullable(PERCENT),
    "last_seen_at": nullable(DATE_TIME), "messages_received_count": integer(minimum=0),
    "organization": nullable(ref("Organization")), "created_at": DATE_TIME, "updated_at": DATE_TIME,
}, optional=("phone_number", "is_online", "config_version", "battery_level", "last_seen_at",
             "messages_received_count", "organization", "updated_at"), closed=False)

SCHEMAS: dict[str, Schema] = {
    "Error": message_only("Not Found."),
    "ValidationError": obj({
        "message": string(examples=["The per page field must be at least 1."]),
        "errors": {"type": "object", "additionalProperties": array(string()), "minProperties": 1},
    }),
    "PaginationMeta": obj({
        "current_page": integer(minimum=1), "per_page": integer(minimum=1), "total": integer(minimum=0),
        "last_page": integer(minimum=1), "from": nullable(integer(minimum=1)),
        "to": nullable(integer(minimum=1)),
    }),
    "PaginationLinks": obj({"first": string(format="uri"), "last": string(format="uri"),
                            "prev": nullable(string(format="uri")), "next": nullable(string(format="uri"))}),
    "Health": obj({"status": string(const="ok"), "timestamp": DATE_TIME}),
    "HealthFailure": obj({"status": string(const="error"), "timestamp": DATE_TIME, "message": string()}),
    "HealthCheck": _HEALTH_CHECK,
    "HealthDetailed": obj({
        "status": string(enum=["ok", "degraded", "error"]), "timestamp": DATE_TIME,
        "checks": obj({
            "database": ref("HealthCheck"), "cache": ref("HealthCheck"), "queue": ref("HealthCheck"),
            "modems": obj({"status": string(enum=["ok", "warning", "error"]), "message": string(),
                           "online": integer(minimum=0), "total": integer(minimum=0), "error": string()},
                          optional=("error",)),
        }),
    }),
    "User": _USER,
    "Organization": obj({"id": ID, "name": string(), "alias": nullable(string())}),
    "Team": obj({"id": ID, "name": string()}),
    "ApiKey": _API_KEY,
    "ApiKeyWithSecret": obj({"api_key": ref("ApiKey"),
                             "plain_text_key": string(examples=["sk_live_1234567890abcdef"],
                                                      description="Shown once; store it now.")}),
    "CurrentUser": obj({
        "user": ref("User"), "auth_type": string(enum=["api_key", "sanctum", "oauth"]),
        "organization": ref("Organization"), "api_key": nullable(ref("ApiKey")),
    }),
    "Sim": _SIM,
    "Message": _MESSAGE,
    "LockUnlocked": obj({"status": string(const="unlocked")}),
    "LockLocked": _LOCKED,
    "LockConflict": obj({"message": string(), "status": string(const="locked"), "lock_id": ID, "user_id": ID,
                         "user_name": string(), "expires_at": DATE_TIME},
                        closed=False, description="The lock is held by someone else: who, and until when."),
    "LoginToken": obj({"token": string(examples=["12|q8Xr..."]), "user": ref("User")}),
    "LoginTwoFactorRequired": obj({"2fa_required": {"const": True}, "tmp_token": string()}),
    "WebhookIntegration": _WEBHOOK_INTEGRATION,
    "WebhookMapping": _WEBHOOK_MAPPING,
    "WebhookDelivery": _WEBHOOK_DELIVERY,
    "WebsocketConfig": obj({
        "broadcaster": string(const="reverb"), "key": string(), "ws_url": string(), "ws_host": string(),
        "ws_port": integer(minimum=1, maximum=65535), "ws_scheme": string(enum=["http", "https"]),
        "force_tls": BOOLEAN, "auth_method": string(const="bearer_token"),
        "auth_header": string(examples=["Authorization: Bearer <token>"]),
        "auth_endpoint": string(format="uri"),
    }, closed=False),
    "ByosSimCard": _BYOS_SIM_CARD,
    "ByosPendingSimCard": _BYOS_PENDING_SIM_CARD,
    "ByosDevice": _BYOS_DEVICE,
    "OAuthTokens": obj({"token_type": string(const="Bearer"), "expires_in": integer(minimum=1),
                        "access_token": string(pattern="^sra_"), "refresh_token": string(pattern="^srr_"),
                        "scope": string(examples=["mobile:device"])}, optional=("scope",)),
    "OAuthError": obj({"error": string(examples=["invalid_grant"]), "error_description": string()},
                      optional=("error_description",), closed=False),
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "Personal access token from /api/auth/login (`<id>|<secret>`) or an OAuth2 "
                                  "access token, sent as `Authorization: Bearer <token>`."},
    "apiKeyAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "sk_live_...",
                   "description": "API key, sent as `Authorization: Bearer sk_live_...`; its permissions "
                                  "decide which routes it may call."},
    "oauth2_byos": {"type": "oauth2", "description": "OAuth2 authorization code with PKCE (S256), as the "
                                                     "SimRelay app and Chrome extension sign in.",
                    "flows": {"authorizationCode": {"authorizationUrl": "/oauth/authorize",
                                                    "tokenUrl": "/oauth/token",
                                                    "refreshUrl": "/oauth/token", "scopes": {}}}},
}
