"""Where webhooks may go: URL rules and the address check that keeps deliveries off internal networks.

A customer URL must never reach loopback, private, link-local, cloud-metadata or otherwise non-global
addresses (SSRF) unless `webhooks.allow_private_networks` is set. The check runs when the URL is saved
and again at every delivery, inside the HTTP client's resolver, so the connection goes to the very
address that was checked (DNS may change between the two). It never sends anything itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services that some clouds put on addresses `is_global` alone would not catch everywhere:
# AWS/GCP/Azure 169.254.169.254 (link-local), AWS IPv6 fd00:ec2::254, Alibaba 100.100.100.200 (CGNAT).
METADATA_ADDRESSES: frozenset[IpAddress] = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class DestinationRefused(Exception):
    """The URL or one of its addresses is not allowed; the message names the URL part or address."""


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    allow_private_networks: bool = False
    allow_http: bool = False


def check_url_shape(url: str, policy: DestinationPolicy) -> URL:
    """The parsed URL if its scheme, host and form are acceptable; no DNS here."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise DestinationRefused(f"not a URL: {url!r} ({exc})") from None
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme not in allowed:
        shown = parsed.scheme or "(none)"
        raise DestinationRefused(f"scheme {shown!r} not allowed (allowed: {', '.join(allowed)})")
    if not parsed.host:
        raise DestinationRefused(f"no host in {url!r}")
    if parsed.user is not None or parsed.password is not None:
        raise DestinationRefused("credentials in the URL are not allowed; use custom headers")
    literal = _literal_address(parsed.host)
    if literal is not None:
        check_address(literal, policy)
    return parsed


def address_refusal(address: IpAddress, policy: DestinationPolicy) -> str | None:
    """Why `address` may not be contacted under `policy`, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback in disguise
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not a unicast address"
    if policy.allow_private_networks:
        return None
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_private:
        return f"{address} is a private address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def check_address(address: IpAddress, policy: DestinationPolicy) -> None:
    problem = address_refusal(address, policy)
    if problem is not None:
        raise DestinationRefused(problem)


def check_addresses(host: str, addresses: Iterable[str], policy: DestinationPolicy) -> None:
    """Refuse when ANY address of `host` is refused: a resolver may hand out any of them."""
    for text in addresses:
        problem = address_refusal(ipaddress.ip_address(text.split("%", 1)[0]), policy)
        if problem is not None:
            raise DestinationRefused(f"{host} resolves to {problem}")


async def check_destination(url: str, policy: DestinationPolicy, *, resolve_timeout_s: float = 5.0) -> URL:
    """Shape and addresses of `url`. A host that does not resolve now is accepted (it is checked again at
    every delivery); one that resolves to a refused address is not."""
    parsed = check_url_shape(url, policy)
    host = parsed.host
    assert host is not None  # check_url_shape refuses URLs without a host
    if _literal_address(host) is not None:
        return parsed
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(resolve_timeout_s):
            infos = await loop.getaddrinfo(host, parsed.port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return parsed
    check_addresses(host, (str(info[4][0]) for info in infos), policy)
    return parsed


class CheckingResolver(AbstractResolver):
    """aiohttp resolver that refuses hosts resolving to addresses the policy forbids (delivery time)."""

    def __init__(self, policy: DestinationPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        literal = _literal_address(host)
        if literal is not None:
            check_address(literal, self._policy)
        results = await self._inner.resolve(host, port, family)
        check_addresses(host, (result["host"] for result in results), self._policy)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def refusal_as_text(error: BaseException) -> str:
    """The evidence of a refused or unreachable destination, for the attempt log."""
    cause: Any = error
    while cause is not None and not isinstance(cause, DestinationRefused):
        cause = cause.__cause__ or cause.__context__
    return f"destination refused: {cause}" if cause is not None else str(error)
