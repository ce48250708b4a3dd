"""Frozen, validated settings of the HTTP API (limits, public URL, health timeouts).

Plain data only: building it from TOML or the environment is gatewayd/config.py's job, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatewayd.errors import ConfigError

_SOURCE = "ApiSettings"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """What the API needs to know that is not a service.

    `public_base_url` is the origin clients see (behind a load balancer or TLS proxy the request's own
    Host is not it); when None, links are built from the request. Pagination links and the OpenAPI
    `servers` entry use it.
    """

    public_base_url: str | None = None
    max_body_bytes: int = 1_048_576
    default_per_page: int = 50
    max_per_page: int = 100
    health_check_timeout_s: float = 2.0
    rate_limit_per_minute: int = 600  # requests per credential (API key or token) per minute
    last_used_flush_interval_s: float = 10.0  # how often noted last_used_at values are written
    title: str = "SimRelay API"
    version: str = "1.0"

    def __post_init__(self) -> None:
        if self.public_base_url is not None:
            if not self.public_base_url.startswith(("http://", "https://")):
                raise ConfigError(_SOURCE, "public_base_url", f"must start with http:// or https://, got "
                                  f"{self.public_base_url!r}")
            if self.public_base_url.endswith("/"):
                raise ConfigError(_SOURCE, "public_base_url", f"must not end with '/', got "
                                  f"{self.public_base_url!r}")
        if self.max_body_bytes < 1024:
            raise ConfigError(_SOURCE, "max_body_bytes", f"must be at least 1024, got {self.max_body_bytes}")
        if not 1 <= self.default_per_page <= self.max_per_page:
            raise ConfigError(_SOURCE, "default_per_page", f"must be within 1..max_per_page "
                              f"({self.max_per_page}), got {self.default_per_page}")
        if self.rate_limit_per_minute < 1:
            raise ConfigError(_SOURCE, "rate_limit_per_minute",
                              f"must be at least 1, got {self.rate_limit_per_minute}")
        if self.last_used_flush_interval_s <= 0:
            raise ConfigError(_SOURCE, "last_used_flush_interval_s",
                              f"must be positive, got {self.last_used_flush_interval_s}")
        if self.health_check_timeout_s <= 0:
            raise ConfigError(_SOURCE, "health_check_timeout_s",
                              f"must be positive, got {self.health_check_timeout_s}")
