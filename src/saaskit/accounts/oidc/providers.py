"""The configured sign-in providers, their presets, and what is read from them (discovery, keys).

A provider is either an OpenID Connect issuer (``issuer``: its discovery document names the
endpoints and the signing keys; the identity comes from a verified ID token), or the GitHub
preset, which is OAuth 2 only: no ID token, no nonce; the identity is read with the access token
just obtained from ``GET https://api.github.com/user`` and the e-mail from
``GET /user/emails`` (the primary address, and only if GitHub marks it verified).

Discovery documents and key sets are kept per process for ``metadata_cache_seconds``; a key id
the cached set does not know makes one fresh read (the provider rotated its keys), at most once a
minute per provider, so forged tokens naming random key ids cannot make us hammer the provider.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from joserfc.jwk import KeySet

from saaskit.config import OidcProviderSettings, Settings
from saaskit.kit.errors import AppError, NotFound

GOOGLE_ISSUER = "https://accounts.google.com"
# Google's ID tokens carry either form (Google's "OpenID Connect" documentation).
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GITHUB = {
    "authorization_endpoint": "https://github.com/login/oauth/authorize",
    "token_endpoint": "https://github.com/login/oauth/access_token",
    "userinfo_endpoint": "https://api.github.com/user",
    "emails_endpoint": "https://api.github.com/user/emails",
}
OIDC_SCOPES = ["openid", "email", "profile"]
GITHUB_SCOPES = ["read:user", "user:email"]
KEY_REFRESH_SECONDS = 60


class ProviderError(AppError):
    """The provider refused, answered nonsense, or a check of its answer failed: always a 4xx
    (or 502 when it cannot be reached), never a 500."""

    status_code = 400
    code = "provider_error"


@dataclass(frozen=True)
class Provider:
    name: str
    settings: OidcProviderSettings
    kind: str  # "oidc" or "github"
    issuers: tuple[str, ...]  # accepted ``iss`` values (OpenID Connect)
    scopes: tuple[str, ...]
    extra_authorize: dict[str, str] = field(default_factory=dict)  # for connections (offline access)

    @property
    def is_oidc(self) -> bool:
        return self.kind == "oidc"

    @property
    def display_name(self) -> str:
        return self.settings.display_name or self.name.capitalize()


def get_provider(settings: Settings, name: str) -> Provider:
    configured = settings.oidc.providers.get(name)
    if configured is None:
        raise NotFound(f"no sign-in provider named {name!r} is configured", field="provider")
    if configured.preset == "github":
        return Provider(name, configured, "github", (), tuple(configured.scopes or GITHUB_SCOPES))
    if configured.preset == "google":
        return Provider(
            name,
            configured,
            "oidc",
            (configured.issuer,) if configured.issuer else GOOGLE_ISSUERS,
            tuple(configured.scopes or OIDC_SCOPES),
            # Google gives a refresh token only for offline access, and again only with consent.
            {"access_type": "offline", "prompt": "consent"},
        )
    assert configured.issuer  # checked by OidcSettings
    return Provider(
        name, configured, "oidc", (configured.issuer.rstrip("/"),), tuple(configured.scopes or OIDC_SCOPES)
    )


def list_providers(settings: Settings) -> list[Provider]:
    return [get_provider(settings, name) for name in sorted(settings.oidc.providers)]


def _issuer(provider: Provider) -> str:
    return provider.settings.issuer.rstrip("/") if provider.settings.issuer else GOOGLE_ISSUER


@dataclass
class _Cached:
    value: Any
    read_at: float


_metadata: dict[str, _Cached] = {}
_keys: dict[str, _Cached] = {}


def http_client(settings: Settings) -> httpx.AsyncClient:
    # Redirects are not followed: a provider's endpoints answer where discovery says they do.
    return httpx.AsyncClient(timeout=settings.oidc.http_timeout_seconds, follow_redirects=False)


async def get_json(settings: Settings, url: str, *, what: str, headers: dict[str, str] | None = None) -> Any:
    try:
        async with http_client(settings) as http:
            response = await http.get(url, headers={"Accept": "application/json", **(headers or {})})
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"the provider could not be reached for its {what} ({type(exc).__name__})",
            code="provider_unreachable",
            status_code=502,
        ) from exc
    if response.status_code != 200:
        raise ProviderError(f"the provider answered {response.status_code} for its {what}")
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(f"the provider's {what} is not JSON") from exc


async def metadata(settings: Settings, provider: Provider) -> dict[str, Any]:
    """The endpoints: discovered for OpenID Connect (cached), fixed for GitHub."""
    if provider.kind == "github":
        return dict(GITHUB)
    issuer = _issuer(provider)
    cached = _metadata.get(issuer)
    if cached is not None and time.monotonic() - cached.read_at < settings.oidc.metadata_cache_seconds:
        return dict(cached.value)
    found = await get_json(settings, f"{issuer}/.well-known/openid-configuration", what="discovery document")
    if not isinstance(found, dict) or found.get("issuer", "").rstrip("/") != issuer:
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer asked.
        raise ProviderError("the provider's discovery document names another issuer")
    for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(found.get(needed), str):
            raise ProviderError(f"the provider's discovery document has no {needed}")
    _metadata[issuer] = _Cached(found, time.monotonic())
    return dict(found)


async def key_set(settings: Settings, jwks_uri: str, *, kid: str | None) -> KeySet:
    """The provider's signing keys; read again if ``kid`` is unknown (keys rotate)."""
    cached = _keys.get(jwks_uri)
    now = time.monotonic()
    fresh = cached is not None and now - cached.read_at < settings.oidc.metadata_cache_seconds
    if cached is not None and fresh and (kid is None or _has_kid(cached.value, kid)):
        return KeySet.import_key_set(cast(Any, cached.value))
    if cached is not None and fresh and now - cached.read_at < KEY_REFRESH_SECONDS:
        return KeySet.import_key_set(cast(Any, cached.value))
    found = await get_json(settings, jwks_uri, what="signing keys")
    if not isinstance(found, dict) or not isinstance(found.get("keys"), list):
        raise ProviderError("the provider's signing keys are not a JWK set")
    # Only public signing keys (an encryption key in the set is not ours to use).
    found = {"keys": [k for k in found["keys"] if isinstance(k, dict) and k.get("use", "sig") == "sig"]}
    _keys[jwks_uri] = _Cached(found, now)
    return KeySet.import_key_set(cast(Any, found))


def _has_kid(keys: dict[str, Any], kid: str) -> bool:
    return any(k.get("kid") == kid for k in keys.get("keys", []))


def forget_cached() -> None:
    """Drop every cached document and key set (tests start providers anew)."""
    _metadata.clear()
    _keys.clear()
