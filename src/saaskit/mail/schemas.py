"""Response bodies of the mail API (one-click unsubscribe)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from saaskit.kit.schemas import Answer


class Unsubscribed(Answer):
    """``POST /api/mail/unsubscribe`` 200: the address gets no more mail of this kind."""

    unsubscribed: Literal[True] = Field(description="Always true (doing it twice changes nothing).")
    purpose: str = Field(description="The kind of mail the address no longer gets, e.g. reminders.")
