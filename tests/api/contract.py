"""Checks an API response against the OpenAPI document: the operation, the status and the body schema.

Used by every integration test through `ApiClient`, so the document and the code cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:simrelay:openapi"


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._registry: Registry[Any] = Registry().with_resource(
            DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012))
        # Literal paths before templated ones, so /api/health/detailed never matches a {param} pattern.
        self._templates: list[str] = sorted(document["paths"], key=lambda path: (path.count("{"), path))
        self.checked = 0

    def template_of(self, path: str) -> str:
        for template in self._templates:
            pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path):
                return template
        raise AssertionError(f"{path} matches no path of the OpenAPI document")

    def check(self, method: str, path: str, status: int, content_type: str, body: Any) -> None:
        template = self.template_of(path)
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the OpenAPI document"
        response = operation["responses"].get(str(status))
        assert response is not None, (f"{method} {template} answered {status}, which is not documented "
                                      f"(documented: {sorted(operation['responses'])}); body: {body!r}")
        pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self._resolve(pointer)
        content = response.get("content", {})
        assert content_type in content, f"{method} {template} {status}: {content_type} not in {list(content)}"
        schema_ref = f"{DOCUMENT_URI}#{pointer}/content/{_escape(content_type)}/schema"
        validator = Draft202012Validator({"$ref": schema_ref}, registry=self._registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
        assert not errors, f"{method} {path} {status} breaks the document: " + "; ".join(
            f"{'/'.join(map(str, error.path)) or '<root>'}: {error.message}" for error in errors[:5])
        self.checked += 1

    def _resolve(self, pointer: str) -> dict[str, Any]:
        node: Any = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return dict(node)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class ApiClient:
    """The aiohttp test client, with every JSON response checked against the contract."""

    def __init__(self, client: TestClient[web.Request, web.Application], contract: Contract) -> None:
        self.raw = client
        self.contract = contract

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.raw.request(method, path, headers=headers, **kwargs)
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" else text
        self.contract.check(method, response.url.path, response.status, response.content_type, body)
        return Reply(response.status, body, dict(response.headers))

    async def get(self, path: str, token: str | None = None, **kwargs: Any) -> Reply:
        return await self.call("GET", path, token, **kwargs)
