"""Per-credential request budget: headers on every authenticated answer, 429 with Retry-After past the
budget, refilled by the (injected) clock, and one budget per credential."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.app import create_app
from api.settings import ApiSettings
from gatewayd.clock import ManualClock
from gatewayd.services.throttle import RequestRateLimiter
from tests.api.conftest import ClientFactory, World
from tests.api.contract import ApiClient, Contract


async def test_budget_headers_429_and_refill(world: World, contract: Contract,
                                             aiohttp_client: ClientFactory) -> None:
    app = create_app(world.services, ApiSettings(rate_limit_per_minute=3), clock=world.clock)
    api = ApiClient(await aiohttp_client(app), contract)
    key = world.seeded.acme_key
    remaining = []
    for path in ("/api/sims", "/api/sims/999999", "/api/user"):  # a 404 still costs and still says so
        reply = await api.get(path, key)
        assert reply.headers["X-RateLimit-Limit"] == "3"
        remaining.append(reply.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = await api.get("/api/sims", key)
    assert (refused.status, refused.body) == (429, {"message": "Too Many Attempts."})
    assert refused.headers["Retry-After"] == "20"  # one request's worth at 3 a minute
    # Another credential has its own budget; public routes carry none.
    assert (await api.get("/api/sims", world.seeded.acme_token)).status == 200
    assert "X-RateLimit-Limit" not in (await api.get("/api/health")).headers
    world.clock.advance(20)
    assert (await api.get("/api/sims", key)).status == 200


@given(st.lists(st.floats(min_value=0, max_value=30), max_size=200), st.integers(min_value=1, max_value=50))
def test_never_more_than_the_budget_in_any_minute(gaps: list[float], per_minute: int) -> None:
    clock = ManualClock()
    limiter = RequestRateLimiter(clock, per_minute)
    granted: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        if limiter.take("k").allowed:
            granted.append(clock.monotonic())
    # A token bucket lets through at most a full bucket plus what refills during the window.
    for start in granted:
        in_window = [moment for moment in granted if start <= moment < start + 60]
        assert len(in_window) <= 2 * per_minute
