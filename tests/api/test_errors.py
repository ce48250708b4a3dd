"""The error middleware on a small app of its own: every failure leaves as documented JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.errors import (
    MalformedRequest,
    TooManyAttempts,
    Unauthenticated,
    error_middleware,
    validation_message,
)
from api.requests import read_json_object
from gatewayd.errors import Conflict, Forbidden, NotFound, ValidationFailed

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


def raising(error: BaseException) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        raise error

    return handler


async def echo_body(request: web.Request) -> web.Response:
    return web.json_response({"received": await read_json_object(request)})


async def parses_itself(request: web.Request) -> web.Response:
    return web.json_response(await request.json())  # as a careless future handler might


@pytest.fixture
async def client(aiohttp_client: ClientFactory) -> Client:
    app = web.Application(middlewares=[error_middleware], client_max_size=2048)
    app.router.add_post("/echo", echo_body)
    app.router.add_post("/raw", parses_itself)
    errors: dict[str, BaseException] = {
        "unauthenticated": Unauthenticated("no header"),
        "forbidden": Forbidden("This API key does not have the numbers.read permission."),
        "not-found": NotFound("hosted_sim 7 belongs to organisation 2"),
        "conflict": Conflict("The SIM is locked by another user."),
        "invalid": ValidationFailed({"to": ["The to field is required."], "text": ["Too long.", "Bad."]}),
        "malformed": MalformedRequest("Malformed JSON body: x"),
        "throttled": TooManyAttempts(42),
        "bug": ZeroDivisionError("division by zero"),
    }
    for name, error in errors.items():
        app.router.add_get(f"/{name}", raising(error))
    return await aiohttp_client(app)


async def call(client: Client, method: str, path: str,
               **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = await client.request(method, path, **kwargs)
    assert response.content_type == "application/json"
    return response.status, await response.json(), dict(response.headers)


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/unauthenticated", 401, {"message": "Unauthenticated."}),
        ("/forbidden", 403, {"message": "This API key does not have the numbers.read permission."}),
        ("/not-found", 404, {"message": "Not Found."}),
        ("/conflict", 409, {"message": "The SIM is locked by another user."}),
        ("/invalid", 422, {"message": "The to field is required. (and 2 more errors)",
                           "errors": {"to": ["The to field is required."], "text": ["Too long.", "Bad."]}}),
        ("/malformed", 400, {"message": "Malformed JSON body: x"}),
        ("/throttled", 429, {"message": "Too Many Attempts."}),
        ("/nowhere", 404, {"message": "Not Found."}),
    ],
)
async def test_known_errors_map_to_documented_statuses(
        client: Client, path: str, status: int, body: dict[str, Any]) -> None:
    assert (await call(client, "GET", path))[:2] == (status, body)


async def test_not_found_never_echoes_the_domain_message(client: Client) -> None:
    response = await client.get("/not-found")
    assert "organisation" not in await response.text()


async def test_throttle_says_when_to_retry(client: Client) -> None:
    _, _, headers = await call(client, "GET", "/throttled")
    assert headers["Retry-After"] == "42"


async def test_unexpected_error_is_a_logged_500_that_reveals_nothing(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        status, body, _ = await call(client, "GET", "/bug")
    assert (status, body) == (500, {"message": "Server Error."})
    [record] = [r for r in caplog.records if r.name == "api.errors"]
    assert "GET /bug" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


async def test_wrong_method_is_405_with_allow(client: Client) -> None:
    status, body, headers = await call(client, "DELETE", "/echo")
    assert (status, body) == (405, {"message": "Method Not Allowed."})
    assert "POST" in headers["Allow"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"to": }', b"\xff\xfe{}", b'{"a": 1} trailing', b"nul\x00l"],
)
async def test_malformed_json_is_400_never_500(client: Client,
                                               raw: bytes) -> None:
    for path in ("/echo", "/raw"):
        status, body, _ = await call(client, "POST", path, data=raw,
                                     headers={"Content-Type": "application/json"})
        assert status == 400, (path, raw, body)
        assert body["message"].startswith("Malformed JSON body")


async def test_json_that_is_not_an_object_is_400(client: Client) -> None:
    status, body, _ = await call(client, "POST", "/echo", data=b"[1, 2]")
    assert (status, body) == (400, {"message": "The request body must be a JSON object, got list."})


async def test_empty_body_is_an_empty_object(client: Client) -> None:
    assert (await call(client, "POST", "/echo", data=b""))[:2] == (200, {"received": {}})


async def test_body_over_the_limit_is_413(client: Client) -> None:
    status, body, _ = await call(client, "POST", "/echo", data=b'{"a": "' + b"x" * 4096 + b'"}')
    assert (status, body) == (413, {"message": "Content Too Large."})


def test_validation_message_counts_the_others() -> None:
    assert validation_message({"a": ["A."]}) == "A."
    assert validation_message({"a": ["A."], "b": ["B."]}) == "A. (and 1 more error)"
    assert validation_message({}) == "The given data was invalid."
