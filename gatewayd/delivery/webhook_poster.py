"""Signs and POSTs webhook bodies: one keep-alive connection pool per destination, the destination
policy enforced by the resolver at connect time. Knows nothing of the outbox (webhook_claims.py does).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from gatewayd.delivery.destinations import (
    CheckingResolver,
    DestinationPolicy,
    DestinationRefused,
    refusal_as_text,
)

RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "SimRelay-Webhooks/1.0"


def signature(secret: str, body: bytes) -> str:
    """`X-Simrelay-Signature`: lowercase hex HMAC-SHA256 of the raw body, keyed by the secret's text."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    success: bool
    http_status: int | None
    response_excerpt: str | None  # first KB of the body, decoded leniently
    duration_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """One POST ready to go: the raw body and its signature are computed once, when it is claimed."""

    destination: int  # the integration id: the key of its connection pool
    url: str
    raw: bytes
    signature: str
    event: str
    event_id: str
    custom_headers: dict[str, str]
    timeout_s: float


class WebhookPoster:
    """POSTs through pooled HTTP clients whose resolver enforces the destination policy.

    `open()` keeps one client per destination (limit `per_destination` connections, kept alive) until
    `close()` (the worker); without it each POST makes and closes its own client (the rare `test`
    sends of the API), so nothing is left open by a forgotten close.
    """

    def __init__(self, policy: DestinationPolicy, *, per_destination: int = 8) -> None:
        self._policy = policy
        self._per_destination = per_destination
        self._pooled = False
        self._clients: dict[int, aiohttp.ClientSession] = {}

    def _new_client(self, connections: int) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=CheckingResolver(self._policy), limit=connections, limit_per_host=0
        )
        return aiohttp.ClientSession(connector=connector, auto_decompress=False)

    def open(self, *, per_destination: int | None = None) -> None:
        """Pool from now on; `per_destination` (the worker's own limit) caps each pool's connections."""
        if per_destination is not None:
            self._per_destination = per_destination
        self._pooled = True

    async def close(self) -> None:
        self._pooled = False
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(client.close() for client in clients.values()), return_exceptions=True)

    async def post(
        self,
        url: str,
        body: str,
        secret: str,
        *,
        event: str,
        event_id: str,
        custom_headers: dict[str, str],
        timeout_s: float,
        sent_at: datetime,
    ) -> AttemptOutcome:
        """Sign `body` with `secret` and POST it through a client of its own (the API's `test`)."""
        raw = body.encode("utf-8")
        request = SignedRequest(
            0, url, raw, signature(secret, raw), event, event_id, custom_headers, timeout_s
        )
        async with self._new_client(1) as http:
            return await _post(http, request, sent_at)

    async def post_signed(self, request: SignedRequest, sent_at: datetime) -> AttemptOutcome:
        """POST a prepared request through its destination's pool (or a client of its own if not open)."""
        if not self._pooled:
            async with self._new_client(1) as http:
                return await _post(http, request, sent_at)
        client = self._clients.get(request.destination)
        if client is None:
            client = self._clients[request.destination] = self._new_client(self._per_destination)
        return await _post(client, request, sent_at)


async def _post(http: aiohttp.ClientSession, request: SignedRequest, sent_at: datetime) -> AttemptOutcome:
    headers = {
        **request.custom_headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Simrelay-Event": request.event,
        "X-Simrelay-Delivery": request.event_id,
        "X-Simrelay-Timestamp": str(int(sent_at.timestamp())),
        "X-Simrelay-Signature": request.signature,
    }
    started = time.perf_counter()
    try:
        async with asyncio.timeout(request.timeout_s):
            # No redirects: a 3xx could point anywhere, including where the policy forbids.
            async with http.post(
                request.url, data=request.raw, headers=headers, allow_redirects=False
            ) as reply:
                excerpt = await reply.content.read(RESPONSE_EXCERPT_BYTES)
                status = reply.status
    except TimeoutError:
        return AttemptOutcome(
            False, None, None, _ms_since(started), f"timed out after {request.timeout_s:g} s"
        )
    except (aiohttp.ClientError, OSError, DestinationRefused, ValueError) as exc:
        detail = refusal_as_text(exc) or type(exc).__name__
        return AttemptOutcome(False, None, None, _ms_since(started), detail)
    text = excerpt.decode("utf-8", errors="replace")
    ok = 200 <= status < 300
    return AttemptOutcome(ok, status, text, _ms_since(started), None if ok else f"HTTP {status}")


def _ms_since(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))
