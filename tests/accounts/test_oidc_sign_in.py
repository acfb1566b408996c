"""Sign-in with OpenID Connect against a real provider (oidc-provider on loopback): accounts
created, linked by verified e-mail only, found again by subject; forged state, wrong audience,
replayed code, nonce mismatch, expired ID token and the provider's refusal are 4xx answers that
change nothing; two-factor sign-in still applies."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pyotp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from saaskit.accounts.oidc.flow import github_primary_email
from saaskit.accounts.oidc.state import COOKIE
from saaskit.config import OidcProviderSettings, ProductSettings, Settings
from saaskit.kit.bootstrap import build_runtime
from saaskit.kit.db import Database
from saaskit.kit.state import Runtime
from tests.accounts.oidc_support import account, authorize, oidc_issuer, oidc_settings
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import one
from tests.helpers import error_of, login, signup

__all__ = ["oidc_issuer"]
PRODUCT = "http://product.test"


async def value(session: AsyncSession, query: str, **params: object) -> object:
    """The one value ``query`` returns (as the service)."""
    return (await one(session, query, **params))[0]


@pytest.fixture
def runtime(oidc_issuer: str, app_engine: AsyncEngine) -> Runtime:
    """The suite's runtime, with the test provider's clients configured (``client`` uses it)."""
    oidc = oidc_settings(oidc_issuer)
    # A provider nobody answers for (port 9 on loopback: discard, closed here).
    down = OidcProviderSettings(issuer="http://127.0.0.1:9", client_id="x", client_secret="y")  # type: ignore[arg-type]
    oidc = oidc.model_copy(update={"providers": {**oidc.providers, "down": down}})
    settings: Settings = make_settings(
        oidc=oidc, product=ProductSettings(url=PRODUCT, api_url="http://testserver")
    )
    return build_runtime(settings, Database(app_engine), TEST_SECRET)


async def start(client: httpx.AsyncClient, provider: str = "corp", **params: str) -> str:
    response = await client.get(f"/api/auth/oidc/{provider}/start", params=params)
    assert response.status_code == 302, response.text
    assert COOKIE in response.cookies
    query = parse_qs(urlsplit(response.headers["location"]).query)
    # PKCE S256, a state and a nonce on every authorization request.
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    return str(response.headers["location"])


async def sign_in(
    client: httpx.AsyncClient, who: dict[str, object], provider: str = "corp", **params: str
) -> httpx.Response:
    callback = await authorize(await start(client, provider, **params), who)
    return await client.get(callback)


async def test_sign_in_creates_an_account_then_finds_it_by_subject(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    who = account("grace@example.com", sub="grace-1")
    response = await sign_in(client, who)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == "grace@example.com" and body["user"]["email_verified"] is True
    assert body["user"]["name"] == "Ada Lovelace"
    assert COOKIE not in client.cookies  # the state cookie is spent
    row = await one(
        session,
        "SELECT u.id, u.auth_provider, u.auth_provider_id, u.password_hash, s.auth_method "
        "FROM users u JOIN user_sessions s ON s.user_id = u.id WHERE u.email = 'grace@example.com'",
    )
    assert (row.auth_provider, row.auth_provider_id, row.password_hash) == ("corp", "grace-1", None)
    assert row.auth_method == "oidc:corp"
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["id"] == str(row.id)

    # The same subject with another (even unverified) address at the provider: the same account.
    again = await sign_in(client, account("grace.new@example.com", sub="grace-1", verified=False))
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == str(row.id)
    assert await value(session, "SELECT count(*) FROM users WHERE email LIKE 'grace%'") == 1
    # No password: the password sign-in cannot open this account.
    assert (await login(client, "grace@example.com", "anything at all")).status_code == 401


async def test_links_an_existing_account_only_on_a_verified_email(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await signup(client, email="linus@example.com")
    refused = await sign_in(client, account("linus@example.com", verified=False, sub="linus-x"))
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "email_not_verified" and error_of(refused)["field"] == "email"
    assert await value(session, "SELECT auth_provider_id FROM users WHERE id = :id", id=user.id) is None
    # Nor is a new account made for an unverified address nobody uses.
    unknown = await sign_in(client, account("nobody@example.com", verified=False))
    assert error_of(unknown)["code"] == "email_not_verified"
    assert await value(session, "SELECT count(*) FROM users WHERE email = 'nobody@example.com'") == 0

    linked = await sign_in(client, account("Linus@Example.com", sub="linus-1"))
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == str(user.id)
    row = await one(
        session,
        "SELECT auth_provider, auth_provider_id, email_verified FROM users WHERE id = :id",
        id=user.id,
    )
    assert tuple(row) == ("corp", "linus-1", True)
    audit = await value(
        session,
        "SELECT count(*) FROM activities WHERE action = 'user.oidc_linked' AND entity_id = :id",
        id=user.id,
    )
    assert audit == 1
    assert (await login(client, "linus@example.com")).status_code == 200  # the password still works
    # A suspended account is neither signed in nor linked.
    suspended = await signup(client, email="sus@example.com")
    await one(session, "UPDATE users SET status = 'suspended' WHERE id = :id RETURNING id", id=suspended.id)
    refused = await sign_in(client, account("sus@example.com", sub="sus-1"))
    assert refused.status_code == 403 and error_of(refused)["code"] == "account_suspended"
    assert await value(session, "SELECT auth_provider_id FROM users WHERE id = :id", id=suspended.id) is None
    # Another identity with the same verified address does not take the linked account over.
    other = await sign_in(client, account("linus@example.com", sub="linus-2"))
    assert other.status_code == 409 and error_of(other)["code"] == "linked_to_another_identity"


async def test_forged_or_crossed_state_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    callback = await authorize(await start(client), account("mallory@example.com"))
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = urlunsplit(parts._replace(query=urlencode({"code": query["code"][0], "state": "forged"})))
    response = await client.get(forged)
    assert response.status_code == 400 and error_of(response) | {"message": ""} == {
        "code": "invalid_state",
        "field": "state",
        "message": "",
    }
    # The right address in another browser (no state cookie), or with an altered cookie.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as other:
        assert error_of(await other.get(callback))["code"] == "invalid_state"
        other.cookies.set(COOKIE, client.cookies[COOKIE][:-4] + "AAAA", path="/api/")
        assert error_of(await other.get(callback))["code"] == "invalid_state"
    assert await value(session, "SELECT count(*) FROM users WHERE email = 'mallory@example.com'") == 0


@pytest.mark.parametrize(
    ("provider", "code"),
    [("wrongaud", "wrong_audience"), ("badnonce", "nonce_mismatch"), ("expired", "id_token_expired")],
)
async def test_id_token_checks(
    client: httpx.AsyncClient, session: AsyncSession, provider: str, code: str
) -> None:
    email = f"{provider}@example.com"
    response = await sign_in(client, account(email), provider)
    assert response.status_code == 401, response.text
    error = error_of(response)
    assert (error["code"], error["field"]) == (code, "id_token")
    assert await value(session, "SELECT count(*) FROM users WHERE email = :e", e=email) == 0


async def test_a_replayed_code_and_a_refusal_are_provider_errors(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    callback = await authorize(await start(client), account("replay@example.com"))
    cookie = client.cookies[COOKIE]
    assert (await client.get(callback)).status_code == 200
    client.cookies.set(COOKIE, cookie, domain="testserver.local", path="/api/")
    replayed = await client.get(callback)
    assert replayed.status_code == 400, replayed.text
    assert (
        error_of(replayed)["code"] == "provider_error"
        and error_of(replayed)["provider_error"] == "invalid_grant"
    )
    assert (
        await value(
            session,
            "SELECT count(*) FROM user_sessions s JOIN users u ON u.id = s.user_id "
            "WHERE u.email = 'replay@example.com'",
        )
        == 1
    )

    denied = await client.get(await authorize(await start(client), deny=True))
    assert denied.status_code == 400
    assert (
        error_of(denied)["code"] == "provider_error" and error_of(denied)["provider_error"] == "access_denied"
    )


async def test_return_to_redirects_with_the_session_cookie(client: httpx.AsyncClient) -> None:
    assert (
        await client.get("/api/auth/oidc/corp/start", params={"return_to": "//evil.example"})
    ).status_code == 400
    response = await sign_in(client, account("redirect@example.com"), return_to="/welcome")
    assert response.status_code == 303
    assert response.headers["location"] == f"{PRODUCT}/welcome"
    token = response.cookies["saaskit_session"]
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_two_factor_sign_in_still_applies(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await signup(client, email="tf@example.com")
    enrol = await client.post(
        "/api/me/two-factor/enrol", json={"password": "correct horse battery"}, headers=user.headers
    )
    totp = pyotp.TOTP(enrol.json()["secret"])
    confirm = await client.post("/api/me/two-factor/confirm", json={"code": totp.now()}, headers=user.headers)
    assert confirm.status_code == 200, confirm.text

    first = await sign_in(client, account("tf@example.com", sub="tf-1"))
    assert first.status_code == 200 and "token" not in first.json()
    challenge = first.json()["challenge_token"]
    code = totp.at(time.time() + 30)  # the next step's: the confirming code's step is spent
    done = await client.post("/api/auth/login/two-factor", json={"challenge_token": challenge, "code": code})
    assert done.status_code == 200, done.text
    method = await value(
        session, "SELECT auth_method FROM user_sessions WHERE id = :id", id=done.json()["session_id"]
    )
    assert method == "oidc:corp+totp"


async def test_unknown_provider_and_listing(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/auth/oidc/nope/start")
    assert missing.status_code == 404 and error_of(missing)["field"] == "provider"
    listed = (await client.get("/api/auth/oidc/providers")).json()
    assert {p["name"] for p in listed} == {"corp", "wrongaud", "badnonce", "expired", "down"}
    unreachable = await client.get("/api/auth/oidc/down/start")
    assert unreachable.status_code == 502 and error_of(unreachable)["code"] == "provider_unreachable"


def test_github_primary_email_counts_only_the_verified_primary() -> None:
    # The shape of GitHub's GET /user/emails (REST API documentation).
    emails = [
        {"email": "octocat@github.com", "verified": True, "primary": False, "visibility": "public"},
        {"email": "octo@example.com", "verified": False, "primary": True, "visibility": None},
    ]
    assert github_primary_email(emails) == ("octo@example.com", False)
    emails[1]["verified"] = True
    assert github_primary_email(emails) == ("octo@example.com", True)
    assert github_primary_email({"message": "Requires authentication"}) == (None, False)
