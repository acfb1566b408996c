"""One HTTP attempt: POST a signed body to a checked address, and what came of it.

- the address is checked first (``addresses.resolve_target``) and the connection goes to that
  address, the URL's host kept in ``Host`` and as the TLS server name (certificates are verified
  against it);
- redirects are not followed (a 3xx is a failure saying where it pointed): following one would
  reach an address nobody checked;
- short timeouts: ``connect_timeout_seconds`` to connect, ``timeout_seconds`` for the whole
  attempt; proxies from the environment are ignored (``trust_env=False``);
- at most ``response_excerpt_bytes`` of the answer's body are read and kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from saaskit import __version__
from saaskit.config import WebhookSettings
from saaskit.webhooks.addresses import AddressRefused, Resolver, resolve_target, system_resolver

USER_AGENT = f"saaskit-webhooks/{__version__}"


@dataclass(frozen=True)
class Outcome:
    is_success: bool
    status_code: int | None = None
    latency_ms: int | None = None
    response_excerpt: str | None = None
    error: str | None = None


def _text(raw: bytes) -> str:
    # PostgreSQL text cannot hold NUL; an answer's bytes are whatever the receiver sent.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == (443 if scheme == "https" else 80) else f"{shown}:{port}"


async def post(
    settings: WebhookSettings,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    resolver: Resolver = system_resolver,
) -> Outcome:
    try:
        target = await resolve_target(url, settings.allow_private_networks, resolver)
    except AddressRefused as exc:
        return Outcome(is_success=False, error=f"refused: {exc}")
    request_url = httpx.URL(url).copy_with(host=target.address)
    all_headers = {
        **headers,
        "host": _host_header(target.host, target.port, target.scheme),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
    started = time.monotonic()
    latency_ms: int | None = None
    try:
        async with (
            asyncio.timeout(settings.timeout_seconds),
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream(
                "POST", request_url, content=body, headers=all_headers, extensions=extensions
            ) as answer,
        ):
            latency_ms = round((time.monotonic() - started) * 1000)
            excerpt = bytearray()
            limit = settings.response_excerpt_bytes
            if limit:
                async for chunk in answer.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= limit:
                        break
            text = _text(bytes(excerpt[:limit])) if limit else None
            status = answer.status_code
            location = answer.headers.get("location")
    except TimeoutError:
        return _failed(f"timed out after {settings.timeout_seconds:g} s", started, latency_ms)
    except httpx.TimeoutException as exc:
        return _failed(f"timed out ({type(exc).__name__})", started, latency_ms)
    except httpx.HTTPError as exc:
        return _failed(f"{type(exc).__name__}: {exc}"[:500], started, latency_ms)
    if 200 <= status < 300:
        return Outcome(True, status, latency_ms, text)
    if 300 <= status < 400:
        error = f"answered {status}: redirects are not followed (Location: {(location or '-')[:300]})"
    else:
        error = f"answered {status}"
    return Outcome(False, status, latency_ms, text, error)


def _failed(error: str, started: float, latency_ms: int | None) -> Outcome:
    return Outcome(False, None, latency_ms or round((time.monotonic() - started) * 1000), None, error)
