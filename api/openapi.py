"""The OpenAPI 3.1 document of the whole API, built from the operation table and the permission table,
served as `GET /api/openapi.json` and rendered as HTML at `GET /docs`.

Pure assembly at startup; it must not describe anything that api/permissions.py does not also enforce.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from api.docs_page import render_docs_page
from api.keys import DOCS_HTML, OPENAPI_JSON
from api.openapi_components import SCHEMAS, SECURITY_SCHEMES, Schema, obj, ref, string
from api.openapi_paths import JSON, OPERATIONS, PATH_PARAMETERS, Operation, Reply
from api.permissions import ALL_AUTH_TYPES, API_KEY, OAUTH, SANCTUM, Access, access_for
from api.settings import ApiSettings

OPENAPI_VERSION = "3.1.0"
_PATH_PARAMETER = re.compile(r"{(\w+)}")

_DESCRIPTION = """Hosted-SIM SMS service of a SimRelay Gateway.

Every authenticated route takes `Authorization: Bearer <token>` with one of three kinds of token:
API keys (`sk_live_...`, created in the API Keys routes, limited by their permissions), personal access
tokens from `/api/auth/login` (`<id>|<secret>`), and OAuth2 access tokens (authorization code + PKCE;
access tokens last 15 days, refresh tokens 30 days).

Errors are JSON `{"message": ...}`; validation errors are 422 with `errors` naming each field. Anything
outside the caller's organisation is a 404. Lists paginate as Laravel does (`data`, `meta`, `links`)."""

COMMON_RESPONSES: dict[str, Schema] = {
    "Unauthenticated": {"description": "Missing, malformed or unknown bearer token",
                        "content": {JSON: {"schema": obj({"message": string(const="Unauthenticated.")})}}},
    "Forbidden": {"description": "Authenticated, but this token may not do this",
                  "content": {JSON: {"schema": ref("Error")}}},
    "NotFound": {"description": "No such thing in the caller's organisation",
                 "content": {JSON: {"schema": ref("Error")}}},
    "MalformedJson": {"description": "The body is not a JSON object",
                      "content": {JSON: {"schema": ref("Error")}}},
    "ValidationFailed": {"description": "Invalid input; `errors` names each field",
                         "content": {JSON: {"schema": ref("ValidationError")}}},
    "TooManyRequests": {
        "description": "This credential has used its request budget (default 600 a minute)",
        "headers": {
            "Retry-After": {"description": "Seconds until a request is allowed again",
                            "schema": {"type": "string"}},
            "X-RateLimit-Limit": {"description": "Requests allowed a minute", "schema": {"type": "string"}},
            "X-RateLimit-Remaining": {"description": "Requests left now", "schema": {"type": "string"}},
        },
        "content": {JSON: {"schema": obj({"message": string(const="Too Many Attempts.")})}}},
}


def build_document(settings: ApiSettings) -> dict[str, Any]:
    """The complete OpenAPI document; the same input always gives the same document."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    tags = list(dict.fromkeys(operation.tag for operation in OPERATIONS))
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": settings.title, "version": settings.version, "description": _DESCRIPTION},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "responses": COMMON_RESPONSES,
                       "securitySchemes": SECURITY_SCHEMES},
    }
    if settings.public_base_url is not None:
        document["servers"] = [{"url": settings.public_base_url}]
    return document


def _operation(operation: Operation) -> dict[str, Any]:
    access = access_for(operation.method, operation.path)
    result: dict[str, Any] = {
        "tags": [operation.tag],
        "summary": operation.summary,
        "operationId": _operation_id(operation),
        "security": _security(access),
        "responses": _responses(operation, access),
    }
    if operation.description:
        result["description"] = operation.description
    parameters = _parameters(operation)
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        content = {media: {"schema": operation.body} for media in operation.body_media}
        result["requestBody"] = {"required": operation.body_required, "content": content}
    if access.permission is not None:
        result["x-permission"] = access.permission
    if access.other_proof is not None:
        result["x-authenticated-by"] = access.other_proof
    return result


def _operation_id(operation: Operation) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", operation.path.replace("{", "by_")).strip("_")
    return f"{operation.method.lower()}_{words}"


def _security(access: Access) -> list[dict[str, list[str]]]:
    """OpenAPI security alternatives for the auth types a route accepts ([] = no bearer token)."""
    if not access.needs_bearer:
        return []
    if access.auth_types == frozenset({OAUTH}):
        return [{"oauth2_byos": []}]
    schemes: list[dict[str, list[str]]] = []
    if access.auth_types & {SANCTUM, OAUTH}:
        schemes.append({"bearerAuth": []})
    if API_KEY in access.auth_types:
        schemes.append({"apiKeyAuth": []})
    return schemes


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name in _PATH_PARAMETER.findall(operation.path):
        schema, description = PATH_PARAMETERS[name]
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema,
                           "description": description})
    for query in operation.query:
        parameters.append({"name": query.name, "in": "query", "required": False, "schema": query.schema,
                           "description": query.description})
    return parameters


def _responses(operation: Operation, access: Access) -> dict[str, Any]:
    """The operation's own replies plus the errors its auth, path, query and body make possible."""
    responses = {str(status): _reply(reply) for status, reply in sorted(operation.replies.items())}
    derived: list[tuple[int, str]] = []
    if access.needs_bearer:
        derived.append((401, "Unauthenticated"))
        if access.permission is not None or access.auth_types != ALL_AUTH_TYPES:
            derived.append((403, "Forbidden"))
        if _PATH_PARAMETER.search(operation.path):
            derived.append((404, "NotFound"))
        derived.append((429, "TooManyRequests"))  # api/rate_limit.py: a budget per credential
    if operation.body is not None and JSON in operation.body_media:
        derived += [(400, "MalformedJson"), (422, "ValidationFailed")]
    if operation.query and any(reply.media == JSON for reply in operation.replies.values()):
        derived.append((422, "ValidationFailed"))
    for status, name in derived:
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{name}"})
    return dict(sorted(responses.items()))


def _reply(reply: Reply) -> dict[str, Any]:
    result: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None:
        result["content"] = {reply.media: {"schema": reply.schema}}
    if reply.headers:
        result["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                             for name, text in reply.headers.items()}
    return result


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=request.app[OPENAPI_JSON], content_type="application/json")


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[DOCS_HTML], content_type="text/html")


def install(app: web.Application, settings: ApiSettings) -> None:
    """Build the document once, keep its JSON and HTML on the app, and add the two routes."""
    document = build_document(settings)
    app[OPENAPI_JSON] = json.dumps(document, separators=(",", ":"))
    app[DOCS_HTML] = render_docs_page(document)
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
