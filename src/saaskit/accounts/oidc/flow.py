"""The authorization-code flow with a provider: the start (state, nonce, PKCE S256) and the
callback (state, code exchange, ID token verification), with no database: who the person is
becomes an ``Identity``, what the provider gave a ``Tokens``. ``signin.py`` and
``saaskit.integrations`` decide what to do with them.

Protocol pieces come from Authlib (authorization URL, token request body, the S256 challenge,
the OpenID Connect ID token claim rules: ``CodeIDToken``) and joserfc, Authlib's JOSE library
(JWS signature against the provider's JWK set). The HTTP calls are httpx, saaskit's one HTTP
client: Authlib's own httpx integration now expects the ``httpx2`` package and warns on plain
httpx.
The state cookie: ``state.py``.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    DecodeError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)

from saaskit.accounts.oidc import providers
from saaskit.accounts.oidc.providers import Provider, ProviderError
from saaskit.accounts.oidc.state import Pending, seal_pending
from saaskit.kit.errors import BadRequest, Unauthorized
from saaskit.kit.state import Runtime

# Asymmetric signatures only: "none" and HMAC (keyed with the client secret) are refused.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None = None
    picture: str | None = None


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: tuple[str, ...]
    token_type: str


def redirect_uri(runtime: Runtime, provider: Provider) -> str:
    return f"{runtime.settings.product.public_api_url}/api/auth/oidc/{provider.name}/callback"


async def start(
    runtime: Runtime,
    provider: Provider,
    *,
    purpose: str = "sign_in",
    return_to: str | None = None,
    set_cookie: bool = True,
    organization_id: str | None = None,
    user_id: str | None = None,
) -> tuple[str, str]:
    """The provider's authorization address and the sealed cookie that binds it to this browser."""
    meta = await providers.metadata(runtime.settings, provider)
    pending = Pending(
        provider=provider.name,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),  # 86 characters: RFC 7636 allows 43 to 128
        purpose=purpose,
        expires=int(time.time()) + runtime.settings.oidc.state_ttl_seconds,
        return_to=return_to,
        set_cookie=set_cookie,
        organization_id=organization_id,
        user_id=user_id,
    )
    scopes = list(provider.scopes)
    extra: dict[str, str] = {}
    if purpose == "connect":
        scopes += [s for s in provider.settings.integration_scopes if s not in scopes]
        extra = dict(provider.extra_authorize)
        if "offline_access" in scopes and provider.is_oidc:
            extra.setdefault("prompt", "consent")  # OpenID Connect Core 11: offline access needs it
    if provider.is_oidc:
        extra["nonce"] = pending.nonce
    url = prepare_grant_uri(
        meta["authorization_endpoint"],
        provider.settings.client_id,
        "code",
        redirect_uri=redirect_uri(runtime, provider),
        scope=" ".join(scopes),
        state=pending.state,
        code_challenge=create_s256_code_challenge(pending.verifier),
        code_challenge_method="S256",
        **extra,
    )
    return str(url), seal_pending(runtime, pending)


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749, section 2.3.1: both form-encoded before Basic's base64.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def _post(
    runtime: Runtime, provider: Provider, meta: dict[str, Any], url: str, body: str
) -> httpx.Response:
    """POST a form to one of the provider's endpoints, authenticated as the client."""
    settings = provider.settings
    secret = settings.client_secret.get_secret_value()
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if provider.kind == "github" or "client_secret_basic" not in methods:
        body += (
            "&"
            + prepare_token_request("", client_id=settings.client_id, client_secret=secret).split("&", 1)[1]
        )
    else:
        headers["Authorization"] = _basic(settings.client_id, secret)
    try:
        async with providers.http_client(runtime.settings) as http:
            return await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"the provider could not be reached ({type(exc).__name__})",
            code="provider_unreachable",
            status_code=502,
        ) from exc


async def token_request(
    runtime: Runtime, provider: Provider, meta: dict[str, Any], body: str
) -> dict[str, Any]:
    """POST to the token endpoint with the client's credentials; the JSON answer or a 4xx."""
    response = await _post(runtime, provider, meta, meta["token_endpoint"], body)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ProviderError(f"the provider's token endpoint answered {response.status_code}, not JSON")
    if "error" in answer or response.status_code != 200:
        error = str(answer.get("error", response.status_code))[:100]
        detail = str(answer.get("error_description") or "")[:300]
        raise ProviderError(
            f"the provider refused: {error}" + (f" ({detail})" if detail else ""),
            field="code",
            extra={"provider_error": error},
        )
    if not isinstance(answer.get("access_token"), str):
        raise ProviderError("the provider's token answer has no access_token")
    return answer


def tokens_from(answer: dict[str, Any], asked: tuple[str, ...]) -> Tokens:
    expires_in = answer.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = datetime.now(UTC) + timedelta(seconds=int(expires_in))
    scope = answer.get("scope")
    # GitHub separates granted scopes with commas; the standard with spaces.
    granted = tuple(scope.replace(",", " ").split()) if isinstance(scope, str) and scope else asked
    refresh = answer.get("refresh_token")
    return Tokens(
        access_token=answer["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        scopes=granted,
        token_type=str(answer.get("token_type") or "Bearer"),
    )


async def verify_id_token(
    runtime: Runtime,
    provider: Provider,
    meta: dict[str, Any],
    id_token: str,
    *,
    nonce: str,
    access_token: str,
) -> dict[str, Any]:
    """The ID token's claims once its signature (provider's keys), issuer, audience, expiry,
    nonce and access-token hash hold; 401 naming what failed."""
    try:
        kid = jws.extract_compact(id_token.encode()).headers().get("kid")
    except (JoseError, ValueError):
        raise _refused("id_token_invalid", "it is not a signed JWT") from None
    keys = await providers.key_set(runtime.settings, meta["jwks_uri"], kid=kid)
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except BadSignatureError as exc:
        raise _refused(
            "id_token_bad_signature", "its signature does not verify with the provider's keys"
        ) from exc
    except (DecodeError, InvalidTokenError, JoseError, ValueError) as exc:
        raise _refused("id_token_invalid", f"it cannot be read ({type(exc).__name__})") from exc
    client_id = provider.settings.client_id
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "values": list(provider.issuers)},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
        },
        params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=int(time.time()), leeway=runtime.settings.oidc.clock_skew_seconds)
    except ExpiredTokenError as exc:
        raise _refused("id_token_expired", "it has expired") from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = getattr(exc, "claim", None) or str(exc)
        code = {
            "aud": "wrong_audience",
            "azp": "wrong_audience",
            "iss": "wrong_issuer",
            "nonce": "nonce_mismatch",
            "exp": "id_token_expired",
        }.get(str(claim), "id_token_invalid")
        raise _refused(code, f"its {claim} claim is missing or wrong") from exc
    except JoseError as exc:
        raise _refused("id_token_invalid", f"it does not hold ({type(exc).__name__})") from exc
    return dict(claims)


def _refused(code: str, why: str) -> Unauthorized:
    return Unauthorized(f"the provider's ID token was refused: {why}", field="id_token", code=code)


def _verified(value: Any) -> bool:
    # Some providers send the string "true"; anything else is not a yes.
    return value is True or (isinstance(value, str) and value.lower() == "true")


async def _github_identity(runtime: Runtime, provider: Provider, access_token: str) -> Identity:
    auth = {"Authorization": f"Bearer {access_token}", "X-GitHub-Api-Version": "2022-11-28"}
    user = await providers.get_json(
        runtime.settings, providers.GITHUB["userinfo_endpoint"], what="user", headers=auth
    )
    emails = await providers.get_json(
        runtime.settings, providers.GITHUB["emails_endpoint"], what="e-mail addresses", headers=auth
    )
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise ProviderError("GitHub's user answer has no id")
    email, verified = github_primary_email(emails)
    return Identity(
        provider=provider.name,
        subject=str(user["id"]),
        email=email,
        email_verified=verified,
        name=user.get("name") or user.get("login"),
        picture=user.get("avatar_url"),
    )


def github_primary_email(emails: Any) -> tuple[str | None, bool]:
    """GitHub's ``/user/emails``: the primary address and whether GitHub verified it. Only the
    primary one counts: a verified secondary address is not who the account says it is."""
    if not isinstance(emails, list):
        return None, False
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") is True and isinstance(entry.get("email"), str):
            return entry["email"], entry.get("verified") is True
    return None, False


async def _with_userinfo(
    runtime: Runtime, endpoint: str, claims: dict[str, Any], access_token: str
) -> dict[str, Any]:
    """Claims asked by scope may come from the UserInfo endpoint rather than the ID token
    (OpenID Connect Core 5.4; oidc-provider does so). Its ``sub`` must be the ID token's (5.3.2),
    or the answer is not about this person and is ignored."""
    found = await providers.get_json(
        runtime.settings, endpoint, what="user info", headers={"Authorization": f"Bearer {access_token}"}
    )
    if not isinstance(found, dict) or found.get("sub") != claims.get("sub"):
        raise ProviderError("the provider's user info is about another subject", field="id_token")
    return {**found, **{k: v for k, v in claims.items() if v is not None}}


async def finish(
    runtime: Runtime, provider: Provider, pending: Pending, *, code: str | None
) -> tuple[Identity, Tokens]:
    """Exchange the code (with the PKCE verifier) and establish who signed in."""
    if not code:
        raise BadRequest("the provider's answer has no code", field="code", code="missing_code")
    meta = await providers.metadata(runtime.settings, provider)
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=redirect_uri(runtime, provider),
        code_verifier=pending.verifier,
    )
    answer = await token_request(runtime, provider, meta, body)
    tokens = tokens_from(answer, provider.scopes)
    if provider.kind == "github":
        return await _github_identity(runtime, provider, tokens.access_token), tokens
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise _refused("id_token_missing", "the provider sent none (is the openid scope asked?)")
    claims = await verify_id_token(
        runtime, provider, meta, id_token, nonce=pending.nonce, access_token=tokens.access_token
    )
    if not isinstance(claims.get("email"), str) and isinstance(meta.get("userinfo_endpoint"), str):
        claims = await _with_userinfo(runtime, meta["userinfo_endpoint"], claims, tokens.access_token)
    email = claims.get("email")
    return (
        Identity(
            provider=provider.name,
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=_verified(claims.get("email_verified")),
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            picture=claims.get("picture") if isinstance(claims.get("picture"), str) else None,
        ),
        tokens,
    )


async def refresh(
    runtime: Runtime, provider: Provider, refresh_token: str, scopes: tuple[str, ...]
) -> Tokens:
    """A new access token for a refresh token (the provider may rotate the refresh token too)."""
    meta = await providers.metadata(runtime.settings, provider)
    body = prepare_token_request("refresh_token", refresh_token=refresh_token)
    answer = await token_request(runtime, provider, meta, body)
    tokens = tokens_from(answer, scopes)
    if tokens.refresh_token is None:  # kept: the provider did not rotate it
        tokens = Tokens(
            tokens.access_token, refresh_token, tokens.expires_at, tokens.scopes, tokens.token_type
        )
    return tokens


async def revoke(runtime: Runtime, provider: Provider, token: str) -> bool:
    """RFC 7009 revocation, when the provider offers it; False when it does not or fails."""
    meta = await providers.metadata(runtime.settings, provider)
    endpoint = meta.get("revocation_endpoint")
    if not isinstance(endpoint, str):
        return False
    body = f"token={quote(token, safe='')}&token_type_hint=refresh_token"
    try:
        response = await _post(runtime, provider, meta, endpoint, body)
    except ProviderError:
        return False
    return response.status_code == 200
