"""TOTP two-factor sign-in through the API, with real codes from pyotp: enrolment, the second
step of a sign-in, replay, recovery codes, disabling, rate limits, audit, and organizations
that require it."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pyotp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.accounts import totp, two_factor
from saaskit.accounts.models import User
from saaskit.audit.service import SYSTEM_ACTOR
from saaskit.kit.crypto import seal
from saaskit.kit.state import Runtime
from tests.factories import invite_and_join, make_admin, make_org
from tests.helpers import DEFAULT_PASSWORD, SignedUp, error_of, login, signup, with_limits

SECOND_STEP = "/api/auth/login/two-factor"


def code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def wrong_code(secret: str) -> str:
    """A six-digit code that matches none of the accepted steps."""
    taken = {code_at(secret, k) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in taken)


async def turn_on(client: httpx.AsyncClient, user: SignedUp) -> tuple[str, list[str]]:
    """Enrol and confirm (the code of the current step is spent); the secret and recovery codes."""
    started = await client.post(
        "/api/me/two-factor/enrol", json={"password": DEFAULT_PASSWORD}, headers=user.headers
    )
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await client.post(
        "/api/me/two-factor/confirm", json={"code": code_at(secret)}, headers=user.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


async def challenge(client: httpx.AsyncClient, user: SignedUp) -> str:
    answer = await login(client, user.email)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["two_factor_required"] is True and "token" not in body
    return str(body["challenge_token"])


async def second_step(client: httpx.AsyncClient, token: str, **factor: str) -> httpx.Response:
    return await client.post(SECOND_STEP, json={"challenge_token": token, **factor})


async def actions(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT action FROM activities WHERE entity_id = :id AND action LIKE 'two_factor.%' "
            "ORDER BY created_at"
        ),
        {"id": user_id},
    )
    return [row[0] for row in rows]


async def test_enrol_sign_in_replay_recovery_codes_and_disable(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    with_limits(runtime, two_factor_per_user="100/minute")  # the limit has its own test
    user = await signup(client, name="Ada")
    status = (await client.get("/api/me/two-factor", headers=user.headers)).json()
    assert status == {"enabled": False, "pending": False, "confirmed_at": None, "recovery_codes_left": 0}

    # Enrolment needs the password; the secret comes back once, with its otpauth:// URI.
    wrong = await client.post(
        "/api/me/two-factor/enrol", json={"password": "not it at all"}, headers=user.headers
    )
    assert wrong.status_code == 403 and error_of(wrong)["code"] == "wrong_password"
    started = (
        await client.post(
            "/api/me/two-factor/enrol", json={"password": DEFAULT_PASSWORD}, headers=user.headers
        )
    ).json()
    secret = started["secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert started["otpauth_uri"].startswith("otpauth://totp/saaskit:")
    assert f"secret={secret}" in started["otpauth_uri"] and "issuer=saaskit" in started["otpauth_uri"]
    # Stored sealed: the secret is nowhere in the row, and opens only with the instance secret.
    sealed = await session.scalar(
        text("SELECT secret_sealed FROM user_two_factor WHERE user_id = :id"), {"id": user.id}
    )
    assert secret.encode() not in sealed and base64.b32decode(secret) not in sealed
    assert totp.open_secret(runtime.secret, user.id, sealed) == secret
    # Pending: sign-in is unchanged until the enrolment is confirmed.
    assert "token" in (await login(client, user.email)).json()

    bad = await client.post(
        "/api/me/two-factor/confirm", json={"code": wrong_code(secret)}, headers=user.headers
    )
    assert bad.status_code == 422 and error_of(bad)["field"] == "code"
    now_code = code_at(secret)
    confirmed = await client.post("/api/me/two-factor/confirm", json={"code": now_code}, headers=user.headers)
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]
    assert len(set(recovery)) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in recovery)
    hashes = [
        row[0]
        for row in await session.execute(
            text("SELECT code_hash FROM user_recovery_codes WHERE user_id = :id"), {"id": user.id}
        )
    ]
    plain = set(recovery) | {c.replace("-", "") for c in recovery}
    assert len(hashes) == 10 and not set(hashes) & plain

    # The password step now gives a challenge, not a session.
    sessions_before = await session.scalar(
        text("SELECT count(*) FROM user_sessions WHERE user_id = :id"), {"id": user.id}
    )
    token = await challenge(client, user)
    assert (
        await session.scalar(text("SELECT count(*) FROM user_sessions WHERE user_id = :id"), {"id": user.id})
        == sessions_before
    )
    # The code that confirmed the enrolment cannot be used again (its step is spent) ...
    replay = await second_step(client, token, code=now_code)
    assert replay.status_code == 401 and error_of(replay)["code"] == "code_reused"
    assert error_of(replay)["field"] == "code"
    wrong_answer = await second_step(client, token, code=wrong_code(secret))
    assert wrong_answer.status_code == 401 and error_of(wrong_answer)["code"] == "invalid_code"
    # ... the next step's code is accepted (clocks drift: one step either side), once.
    next_code = code_at(secret, 1)
    done = await second_step(client, token, code=next_code)
    assert done.status_code == 200, done.text
    assert done.json()["user"]["email"] == user.email
    signed_in = {"Authorization": f"Bearer {done.json()['token']}"}
    listed = (await client.get("/api/me/sessions", headers=signed_in)).json()
    assert [s["auth_method"] for s in listed if s["is_current"]] == ["password+totp"]
    again = await second_step(client, await challenge(client, user), code=next_code)
    assert again.status_code == 401 and error_of(again)["code"] == "code_reused"

    # Forged, altered and expired challenges are refused.
    for forged in ("nonsense", token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        refused = await second_step(client, forged, code=code_at(secret))
        assert refused.status_code == 401 and error_of(refused)["field"] == "challenge_token"
    payload = json.dumps({"u": str(user.id), "e": int(time.time()) - 1}).encode()
    expired = base64.urlsafe_b64encode(
        seal(runtime.secret, totp.CHALLENGE_PURPOSE, payload, associated=b"challenge")
    ).decode()
    refused = await second_step(client, expired, code=code_at(secret))
    assert refused.status_code == 401 and error_of(refused)["code"] == "invalid_challenge"

    # A recovery code signs in once.
    with_recovery = await second_step(
        client, await challenge(client, user), recovery_code=recovery[0].upper()
    )
    assert with_recovery.status_code == 200, with_recovery.text
    spent = await second_step(client, await challenge(client, user), recovery_code=recovery[0])
    assert spent.status_code == 401 and error_of(spent)["field"] == "recovery_code"
    both = await client.post(SECOND_STEP, json={"challenge_token": token, "code": "1", "recovery_code": "x"})
    assert both.status_code == 422
    status = (await client.get("/api/me/two-factor", headers=user.headers)).json()
    assert status["enabled"] and status["recovery_codes_left"] == 9

    # New recovery codes need the password and a code; the old ones stop working.
    regenerated = await client.post(
        "/api/me/two-factor/recovery-codes",
        json={"password": DEFAULT_PASSWORD, "recovery_code": recovery[1]},
        headers=user.headers,
    )
    assert regenerated.status_code == 200, regenerated.text
    fresh = regenerated.json()["recovery_codes"]
    old = await second_step(client, await challenge(client, user), recovery_code=recovery[2])
    assert old.status_code == 401

    # Disabling needs the password and a code.
    for body, status_code, code in [
        ({"password": "not it at all", "recovery_code": fresh[0]}, 403, "wrong_password"),
        ({"password": DEFAULT_PASSWORD, "code": wrong_code(secret)}, 403, "invalid_code"),
    ]:
        refused = await client.post("/api/me/two-factor/disable", json=body, headers=user.headers)
        assert refused.status_code == status_code and error_of(refused)["code"] == code, refused.text
    no_code = await client.post(
        "/api/me/two-factor/disable", json={"password": DEFAULT_PASSWORD}, headers=user.headers
    )
    assert no_code.status_code == 422
    off = await client.post(
        "/api/me/two-factor/disable",
        json={"password": DEFAULT_PASSWORD, "code": code_at(secret, -1)},  # older than the last used
        headers=user.headers,
    )
    assert off.status_code == 403 and error_of(off)["code"] == "code_reused"
    off = await client.post(
        "/api/me/two-factor/disable",
        json={"password": DEFAULT_PASSWORD, "recovery_code": fresh[0]},
        headers=user.headers,
    )
    assert off.status_code == 204, off.text
    assert "token" in (await login(client, user.email)).json()
    assert (
        await session.scalar(
            text("SELECT count(*) FROM user_recovery_codes WHERE user_id = :id"), {"id": user.id}
        )
        == 0
    )

    notices = (await client.get("/api/me/notifications", headers=user.headers)).json()["items"]
    # One transaction in tests (one now()): counted, not ordered.
    assert Counter(n["title"] for n in notices if n["kind"] == "security") == {
        "Two-factor sign-in was turned on": 1,
        "A recovery code was used": 3,
        "New recovery codes were made; the old ones no longer work": 1,
        "Two-factor sign-in was turned off": 1,
    }
    assert await actions(session, user.id) == [
        "two_factor.enabled",
        "two_factor.sign_in_failed",  # the replayed code
        "two_factor.sign_in_failed",  # the wrong one
        "two_factor.sign_in_failed",  # the replay of next_code
        "two_factor.recovery_code_used",
        "two_factor.sign_in_failed",  # the spent recovery code
        "two_factor.recovery_code_used",  # to make new ones
        "two_factor.recovery_codes_regenerated",
        "two_factor.sign_in_failed",  # an old recovery code
        "two_factor.recovery_code_used",  # to disable
        "two_factor.disabled",
    ]


async def test_code_attempts_are_rate_limited_per_account(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    with_limits(runtime, two_factor_per_user="4/minute")
    user = await signup(client)
    secret, _ = await turn_on(client, user)  # one attempt
    token = await challenge(client, user)
    for _ in range(3):
        assert (await second_step(client, token, code=wrong_code(secret))).status_code == 401
    limited = await second_step(client, token, code=code_at(secret, 1))
    assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another account is not affected.
    other = await signup(client)
    other_secret, _ = await turn_on(client, other)
    assert (
        await second_step(client, await challenge(client, other), code=code_at(other_secret, 1))
    ).status_code == 200
    # An operator's reset (saaskit users reset-two-factor): the password alone signs in again.
    other_user = await session.get_one(User, other.id)
    assert await two_factor.reset_by_operator(session, SYSTEM_ACTOR, other_user)
    assert "token" in (await login(client, other.email)).json()
    assert (await actions(session, other.id))[-1] == "two_factor.reset"


async def org_get(client: httpx.AsyncClient, user: SignedUp, org_id: str) -> httpx.Response:
    return await client.get(f"/api/orgs/{org_id}", headers=user.headers)


async def test_an_organization_can_require_two_factor_sign_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await signup(client)
    org = await make_org(client, owner, "Strict Co")
    assert org["require_two_factor"] is False
    member = await invite_and_join(client, owner, org["id"])
    requirement = f"/api/orgs/{org['id']}/two-factor-requirement"

    # Whoever turns it on must use it already.
    refused = await client.put(requirement, json={"required": True}, headers=owner.headers)
    assert refused.status_code == 409 and error_of(refused)["code"] == "two_factor_not_enabled"
    assert (await client.put(requirement, json={"required": True}, headers=member.headers)).status_code == 403
    await turn_on(client, owner)
    turned = await client.put(requirement, json={"required": True}, headers=owner.headers)
    assert turned.status_code == 200 and turned.json() == {"required": True}
    assert (await org_get(client, owner, org["id"])).json()["require_two_factor"] is True

    # A member without it: 403 with a clear error on the organization's endpoints ...
    for path in ("", "/members", "/teams"):
        answer = await client.get(f"/api/orgs/{org['id']}{path}", headers=member.headers)
        assert answer.status_code == 403, path
        error: dict[str, Any] = error_of(answer)
        assert error["code"] == "two_factor_required" and "Strict Co requires two-factor" in error["message"]
    kpis = await client.get(
        "/api/insights/kpis", params={"organization_id": org["id"]}, headers=member.headers
    )
    assert kpis.status_code == 403 and error_of(kpis)["code"] == "two_factor_required"
    # ... yet enrols, and is let in.
    await turn_on(client, member)
    assert (await org_get(client, member, org["id"])).status_code == 200
    # Strangers still get 404, not a hint that the organization exists.
    stranger = await signup(client)
    assert (await org_get(client, stranger, org["id"])).status_code == 404

    # A member who joins later without it is refused, and may still leave.
    late = await invite_and_join(client, owner, org["id"])
    assert (await org_get(client, late, org["id"])).status_code == 403
    left = await client.post(f"/api/orgs/{org['id']}/leave", headers=late.headers)
    assert left.status_code == 204, left.text

    off = await client.put(requirement, json={"required": False}, headers=owner.headers)
    assert off.status_code == 200
    audited = await session.scalar(
        text(
            "SELECT array_agg(action ORDER BY created_at) FROM activities WHERE organization_id = :o "
            "AND action LIKE 'organization.two_factor%'"
        ),
        {"o": org["id"]},
    )
    assert audited == ["organization.two_factor_required", "organization.two_factor_optional"]


def login_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


async def form_sign_in(http: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await http.get("/admin/login")
    data = {"email": email, "password": DEFAULT_PASSWORD, "csrf_token": login_token(form.text)}
    return await http.post("/admin/login", data=data)


async def test_admin_pages_ask_for_the_code(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    secret, recovery = await turn_on(client, admin)
    page = await form_sign_in(client, admin.email)
    assert page.status_code == 200 and "Two-factor sign-in" in page.text
    assert "saaskit_admin=" not in page.headers.get("set-cookie", "")  # no session yet
    challenge_token = re.search(r'name="challenge_token" value="([^"]+)"', page.text)
    assert challenge_token
    form = {
        "csrf_token": login_token(page.text),
        "challenge_token": challenge_token.group(1),
        "next": "/admin/users",
    }
    wrong = await client.post("/admin/login/two-factor", data={**form, "code": wrong_code(secret)})
    assert wrong.status_code == 401 and "wrong or has expired" in wrong.text
    done = await client.post("/admin/login/two-factor", data={**form, "code": code_at(secret, 1)})
    assert done.status_code == 303 and done.headers["location"] == "/admin/users"
    assert (await client.get("/admin/users")).status_code == 200
    # A recovery code works there too.
    client.cookies.clear()
    page = await form_sign_in(client, admin.email)
    form["csrf_token"] = login_token(page.text)
    form["challenge_token"] = re.search(r'name="challenge_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert (
        await client.post("/admin/login/two-factor", data={**form, "code": recovery[0]})
    ).status_code == 303
