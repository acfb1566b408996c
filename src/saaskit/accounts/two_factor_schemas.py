"""Request and response bodies of two-factor sign-in (accounts/two_factor_endpoints.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from saaskit.accounts.schemas import DeviceIn, Password
from saaskit.kit.schemas import Input

Code = Field(default=None, max_length=20, description="The 6-digit code the authenticator app shows.")
RecoveryCode = Field(default=None, max_length=40, description="One of the recovery codes (xxxxx-xxxxx).")


class _OneFactor(Input):
    code: str | None = Code
    recovery_code: str | None = RecoveryCode

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if bool(self.code) == bool(self.recovery_code):
            raise ValueError("give either code or recovery_code")
        return self


class TwoFactorChallengeOut(BaseModel):
    """What ``POST /api/auth/login`` answers (200) when the account uses two-factor sign-in."""

    two_factor_required: Literal[True] = True
    challenge_token: str = Field(
        description="Send it with a code to POST /api/auth/login/two-factor; valid 5 minutes."
    )
    expires_at: datetime
    methods: list[str] = Field(default=["totp", "recovery_code"])


class TwoFactorSignInIn(_OneFactor):
    challenge_token: str = Field(max_length=400)
    device: DeviceIn | None = None
    set_cookie: bool = Field(default=False, description="Also set an HttpOnly session cookie.")


class PasswordIn(Input):
    password: Password


class ConfirmIn(Input):
    code: str = Field(max_length=20, description="The code the authenticator app shows now.")


class PasswordAndFactorIn(_OneFactor):
    password: Password


class TwoFactorStatusOut(BaseModel):
    enabled: bool = Field(description="Sign-in asks for a code.")
    pending: bool = Field(description="An enrolment was started and not confirmed yet.")
    confirmed_at: datetime | None
    recovery_codes_left: int


class EnrolmentOut(BaseModel):
    secret: str = Field(description="Base32 secret, shown this once (type it in if no QR code can be read).")
    otpauth_uri: str = Field(description="otpauth:// URI for the authenticator app (as a QR code).")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(
        description="Ten one-time codes, shown this once: each stands in for a code once."
    )


class RequirementIn(Input):
    required: bool = Field(description="Members must use two-factor sign-in.")


class RequirementOut(BaseModel):
    required: bool
