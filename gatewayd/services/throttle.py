"""In-process throttles on an injected clock: failed-login counters and the per-token request budget.

Pure bookkeeping, no I/O. Per process for now (several API processes each keep their own counts; a
shared store can stand behind the same methods later). Memory is bounded: idle entries are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gatewayd.clock import Clock

# Above this many tracked keys, entries that no longer constrain anyone are dropped before adding more.
MAX_TRACKED_KEYS = 100_000


@dataclass
class _Window:
    hits: int
    resets_at: float  # monotonic seconds


class AttemptLimiter:
    """At most `max_attempts` hits per key in a window of `decay_s` seconds from the first hit
    (Laravel's RateLimiter semantics, which ThrottlesLogins uses)."""

    def __init__(self, clock: Clock, *, max_attempts: int, decay_s: float) -> None:
        if max_attempts < 1 or decay_s <= 0:
            raise ValueError(f"impossible limit: {max_attempts} attempts per {decay_s} s")
        self._clock = clock
        self.max_attempts = max_attempts
        self.decay_s = decay_s
        self._windows: dict[str, _Window] = {}

    def retry_after_s(self, key: str) -> int | None:
        """Whole seconds until `key` may try again, or None when it may try now."""
        window = self._live(key)
        if window is None or window.hits < self.max_attempts:
            return None
        return max(1, math.ceil(window.resets_at - self._clock.monotonic()))

    def hit(self, key: str) -> None:
        window = self._live(key)
        if window is None:
            self._prune()
            self._windows[key] = _Window(1, self._clock.monotonic() + self.decay_s)
        else:
            window.hits += 1

    def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def _live(self, key: str) -> _Window | None:
        window = self._windows.get(key)
        if window is not None and window.resets_at <= self._clock.monotonic():
            del self._windows[key]
            return None
        return window

    def _prune(self) -> None:
        if len(self._windows) < MAX_TRACKED_KEYS:
            return
        now = self._clock.monotonic()
        for key in [key for key, window in self._windows.items() if window.resets_at <= now]:
            del self._windows[key]
        if len(self._windows) >= MAX_TRACKED_KEYS:  # all live: forget the oldest rather than grow
            oldest = min(self._windows, key=lambda key: self._windows[key].resets_at)
            del self._windows[oldest]


class LoginThrottle:
    """Failed logins counted per email and per client address; either one over its limit refuses.

    Keys never say whether an email exists: an unknown email is counted exactly like a known one.
    """

    def __init__(self, clock: Clock, *, per_email: int = 5, per_address: int = 20,
                 decay_s: float = 60.0) -> None:
        self._emails = AttemptLimiter(clock, max_attempts=per_email, decay_s=decay_s)
        self._addresses = AttemptLimiter(clock, max_attempts=per_address, decay_s=decay_s)

    def retry_after_s(self, email: str, address: str) -> int | None:
        waits = [wait for wait in (self._emails.retry_after_s(_email_key(email)),
                                   self._addresses.retry_after_s(address)) if wait is not None]
        return max(waits) if waits else None

    def failed(self, email: str, address: str) -> None:
        self._emails.hit(_email_key(email))
        self._addresses.hit(address)

    def succeeded(self, email: str) -> None:
        self._emails.clear(_email_key(email))


def _email_key(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Budget:
    """One request's verdict: allowed or not, and what the X-RateLimit-* headers say."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


@dataclass
class _Bucket:
    tokens: float
    updated: float  # monotonic seconds


class RequestRateLimiter:
    """A token bucket per credential: `per_minute` requests a minute, refilled continuously, so a
    client may burst up to the whole minute's budget and then runs at the steady rate."""

    def __init__(self, clock: Clock, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError(f"rate limit must be at least 1 per minute, got {per_minute}")
        self._clock = clock
        self.per_minute = per_minute
        self._rate_per_s = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> Budget:
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.per_minute), now)
        else:
            refill = (now - bucket.updated) * self._rate_per_s
            bucket.tokens = min(float(self.per_minute), bucket.tokens + refill)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Budget(True, self.per_minute, int(bucket.tokens), 0)
        wait = max(1, math.ceil((1.0 - bucket.tokens) / self._rate_per_s))
        return Budget(False, self.per_minute, 0, wait)

    def _prune(self, now: float) -> None:
        if len(self._buckets) < MAX_TRACKED_KEYS:
            return
        # A bucket that has refilled completely carries no information: a new one would be identical.
        full_after_s = 60.0
        for key in [key for key, bucket in self._buckets.items() if now - bucket.updated >= full_after_s]:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_KEYS:
            stalest = min(self._buckets, key=lambda key: self._buckets[key].updated)
            del self._buckets[stalest]
