"""Who is calling: the client IP and country, believed from proxies only when they are trusted."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _is_trusted(ip: str, trusted: tuple[str, ...]) -> bool:
    if not trusted:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _networks(trusted))


def peer_ip(request: Request) -> str:
    return request.client.host if request.client else "0.0.0.0"  # noqa: S104 - a placeholder, not a bind


def client_ip(request: Request, trusted_proxies: list[str] | tuple[str, ...]) -> str:
    """The socket peer, or, when the peer is a trusted proxy, the right-most address in
    X-Forwarded-For that is not itself a trusted proxy (left-most entries are client-forged)."""
    trusted = tuple(trusted_proxies)
    peer = peer_ip(request)
    if not _is_trusted(peer, trusted):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    candidate = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return candidate  # nothing left of a malformed entry can be believed
        if not _is_trusted(hop, trusted):
            return hop
        candidate = hop
    return candidate


def client_country(request: Request, trusted_proxies: list[str] | tuple[str, ...], header: str) -> str | None:
    """ISO country code from the trusted proxy's header (e.g. Cloudflare's CF-IPCountry)."""
    if not _is_trusted(peer_ip(request), tuple(trusted_proxies)):
        return None
    value = request.headers.get(header, "").strip().upper()
    if len(value) == 2 and value.isalpha() and value not in {"XX", "T1"}:
        return value
    return None
