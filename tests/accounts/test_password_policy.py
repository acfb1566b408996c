"""Password rules (accounts/password_policy.py): length, zxcvbn's common-password list, the user's
own e-mail and name, and the strength score; at sign-up, password change, and for the reset flow."""

from __future__ import annotations

import uuid

import httpx
import pytest

from saaskit.accounts.password_policy import check_new_password, password_problem
from saaskit.config import AuthSettings
from saaskit.kit.errors import Unprocessable
from tests.helpers import DEFAULT_PASSWORD, error_of, login, signup

SETTINGS = AuthSettings()


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("password123", "password_common"),
        ("qwertyuiop", "password_common"),
        ("1234567890", "password_common"),
        ("P@ssw0rd123", "password_common"),  # l33t spelling of a listed one
        ("drowssap1234", "password_common"),  # reversed
        ("iloveyou2024", "password_common"),
        ("abcdefghijkl", "password_too_weak"),
        ("aaaaaaaaaaaaaaa", "password_too_weak"),
        ("marguerite.fontaine", "password_personal"),
        ("Fontaine!Rides#Bikes", "password_personal"),  # a piece of the name, whatever the case
        ("mfontaine-77-strong-words", "password_personal"),  # the e-mail's local part
        ("correct horse battery", None),
        ("fontainebleau is a long way from here", None),  # a small share of it only
        ("quartz meadow lantern", None),
        ("v8#Lq2!mZr9@Tk", None),
        ("quartz meadow lantern " * 5, None),  # longer than zxcvbn looks at (72)
        ("x" * 80 + "mfontaine@example.com", "password_personal"),  # the address, past 72
    ],
)
def test_rules(password: str, code: str | None) -> None:
    problem = password_problem(SETTINGS, password, email="mfontaine@example.com", name="Marguerite Fontaine")
    assert (problem.code if problem else None) == code


async def test_sign_up_refuses_with_a_clear_422_and_creates_nothing(client: httpx.AsyncClient) -> None:
    email = f"jane.doe.{uuid.uuid4().hex[:6]}@example.com"
    cases = {
        "password123": ("password_common", "common passwords"),
        f"{email.split('@')[0]}!X": ("password_personal", "your e-mail address or your name"),
        "Samantha Example 99": ("password_personal", "your e-mail address or your name"),
        "abcdefghijklmn": ("password_too_weak", "too easy to guess"),
    }
    for password, (code, words) in cases.items():
        body = {"email": email, "password": password, "name": "Samantha Example"}
        response = await client.post("/api/auth/signup", json=body)
        assert response.status_code == 422, password
        error = error_of(response)
        assert (error["field"], error["code"]) == ("password", code), password
        assert words in error["message"] and error["message"].startswith("password: ")
    # Nothing was created: the address is still free, with a good password.
    await signup(client, email=email, password=DEFAULT_PASSWORD)


async def test_password_change_applies_the_rules_to_the_new_password(client: httpx.AsyncClient) -> None:
    user = await signup(client, name="Bartholomew Quill")
    for new, code in [
        ("letmein12345", "password_common"),
        ("bartholomew rocks", "password_personal"),
        (user.email, "password_personal"),
    ]:
        body = {"current_password": DEFAULT_PASSWORD, "new_password": new}
        refused = await client.post("/api/me/password", json=body, headers=user.headers)
        assert refused.status_code == 422, new
        assert (error_of(refused)["field"], error_of(refused)["code"]) == ("new_password", code)
    # Unchanged: the old password still signs in.
    assert (await login(client, user.email)).status_code == 200
    body = {"current_password": DEFAULT_PASSWORD, "new_password": "amber falcon orchard"}
    assert (await client.post("/api/me/password", json=body, headers=user.headers)).status_code == 200


async def test_the_function_the_reset_flow_calls() -> None:
    with pytest.raises(Unprocessable) as refused:
        await check_new_password(SETTINGS, "welcome1234", email="x@example.com", field="new_password")
    assert (refused.value.field, refused.value.code) == ("new_password", "password_common")
    await check_new_password(SETTINGS, "amber falcon orchard", email="x@example.com", name="X")
