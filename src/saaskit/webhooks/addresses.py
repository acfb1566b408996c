"""Where webhooks may go: no server-side request forgery into the operator's network.

An endpoint's URL is checked when it is saved and again at every attempt (DNS answers change):

- ``http`` or ``https`` only, a host, no user:password;
- the host is resolved, and **every** address it resolves to must be public: not private,
  loopback, link-local (169.254.169.254, the cloud metadata service), shared (100.64/10),
  multicast, reserved, unspecified, nor an IPv6 form wrapping one of those (::ffff:10.0.0.1,
  6to4, Teredo, NAT64). One bad address refuses the URL, so a name cannot mix a public address
  with an internal one and hope for the second;
- the attempt then connects to an address that was checked (``Target.address``), with the
  URL's host kept in the Host header and as the TLS server name: a DNS answer that changes
  between the check and the connection (rebinding) is never followed.

``SAASKIT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS`` lists networks allowed although not public (an
operator delivering inside their own network; the tests' loopback receiver).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
# A slow resolver must not hold a request (the URL is checked when it is saved) or a job for long.
DNS_TIMEOUT_SECONDS = 5


class AddressRefused(Exception):
    """The URL may not be delivered to; the message says why (shown to the organization)."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written (lower-cased), for Host and TLS
    port: int
    address: str  # the checked address the attempt connects to


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@lru_cache(maxsize=32)
def _networks(allowed: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64: the last 32 bits are IPv4
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    # is_global alone lets multicast through (224.0.0.0/4 counts as global), hence the rest.
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def check_address(address: str, allowed: Sequence[str]) -> IPAddress:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError as exc:
        raise AddressRefused(f"{address!r} is not an IP address") from exc
    if is_public(parsed) or any(parsed in network for network in _networks(tuple(allowed))):
        return parsed
    raise AddressRefused(
        f"{parsed} is not a public address (private, loopback, link-local, multicast or reserved)"
    )


def parse_url(url: str) -> SplitResult:
    """The URL's syntax (no DNS): http(s), a host, no credentials, a valid port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise AddressRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("credentials in the URL are not allowed (the signature authenticates us)")
    if port == 0:
        raise AddressRefused("port 0 is not a port")
    return parts


async def resolve_target(url: str, allowed: Sequence[str], resolver: Resolver = system_resolver) -> Target:
    """Check ``url`` and every address its host resolves to; the address to connect to."""
    parts = parse_url(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
                addresses = await resolver(host, port)
        except TimeoutError as exc:
            raise AddressRefused(f"{host} did not resolve within {DNS_TIMEOUT_SECONDS} s") from exc
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(f"{host} does not resolve: {exc}") from exc
        if not addresses:
            raise AddressRefused(f"{host} does not resolve")
    checked = [check_address(address, allowed) for address in addresses]
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=str(checked[0]))
