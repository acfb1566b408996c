"""What a new password must be: long enough, not a common or breached one, not made of the
user's own e-mail or name, and hard enough to guess.

The common-password list and the guessing estimate are zxcvbn's (PyPI ``zxcvbn``, Dropbox's
estimator ported to Python): its ``passwords`` dictionary is the top of the password lists
leaked in breaches (xato's 10 million passwords), matched also reversed, capitalised and with
l33t substitutions (``P@ssw0rd``); the user's e-mail and name are given to it as a dictionary
of their own, so ``jane.doe2024`` is found to be Jane's name. The first rule a password breaks
is the one the 422 names (field ``password``, or the caller's field name):

- ``password_too_short``: fewer than ``auth.min_password_length`` characters;
- ``password_personal``: a third or more of it is the e-mail address, its local part, a piece
  of either, the name or one of its words (found as plain substrings, and by zxcvbn's
  user-input dictionary: reversed, l33t), or it contains the whole e-mail address;
- ``password_common``: is on the common-password list, or is one of its words with little
  added (the zxcvbn match from that list covers most of it);
- ``password_too_weak``: zxcvbn's score is below ``auth.min_password_score``, with its advice.

``check_new_password`` is what sign-up, password change, an operator's reset and the
password-reset flow call. zxcvbn runs in a thread (a few milliseconds of CPU per password) and
looks at the first ``ANALYSED_CHARACTERS`` only: what comes after can only make it stronger.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from saaskit.config import AuthSettings
from saaskit.kit.errors import Unprocessable

ANALYSED_CHARACTERS = 72  # zxcvbn's own limit (it refuses longer input)
# Pieces of an e-mail or name shorter than this are too common inside words to refuse (Al, Art, "li").
SHORTEST_PERSONAL_PIECE = 4


@dataclass(frozen=True)
class PasswordProblem:
    code: str
    reason: str  # completes "password: ..."


def personal_words(email: str | None, name: str | None) -> list[str]:
    """The e-mail, its local part and the pieces of both, and the name and its words."""
    words: list[str] = []
    if email:
        email = email.strip().lower()
        local = email.split("@", 1)[0]
        words += [email, local, *re.split(r"[._+\-]+", local)]
    if name:
        name = name.strip().lower()
        words += [name, *re.split(r"[\s._\-]+", name)]
    unique = dict.fromkeys(w for w in words if len(w) >= SHORTEST_PERSONAL_PIECE)
    return list(unique)


def _personal_share(lowered: str, personal: list[str], sequence: list[dict[str, Any]]) -> int:
    """How many characters of the password are the user's e-mail or name: plain occurrences of
    the pieces, and zxcvbn's user-input matches (reversed, l33t)."""
    covered: set[int] = set()
    for word in personal:
        start = lowered.find(word)
        while start >= 0:
            covered.update(range(start, start + len(word)))
            start = lowered.find(word, start + 1)
    for match in sequence:
        if match.get("dictionary_name") == "user_inputs":
            covered.update(range(match["i"], match["j"] + 1))
    return len(covered)


def password_problem(
    settings: AuthSettings, password: str, *, email: str | None = None, name: str | None = None
) -> PasswordProblem | None:
    """The first rule ``password`` breaks, or None. Plain code: ``check_new_password`` runs it
    in a thread."""
    minimum = settings.min_password_length
    if len(password) < minimum:
        return PasswordProblem("password_too_short", f"must be at least {minimum} characters long")
    # Imported on first use: it loads its word lists (a few MB), which only this needs.
    from zxcvbn import zxcvbn

    analysed = password[:ANALYSED_CHARACTERS]
    personal = personal_words(email, name)
    lowered = analysed.lower()
    result: dict[str, Any] = zxcvbn(analysed, user_inputs=personal, max_length=ANALYSED_CHARACTERS)
    sequence = result["sequence"]
    if _personal_share(lowered, personal, sequence) * 3 >= len(analysed) or (
        email and email.strip().lower() in password.lower()
    ):
        return PasswordProblem(
            "password_personal", "is made of your e-mail address or your name: choose something else"
        )
    common = [m for m in sequence if m.get("dictionary_name") == "passwords"]
    # Common when a listed password makes up most of it: "password123", "Summer2024!",
    # "qwertyuiop" (a word of the list inside a long passphrase is fine: the score decides).
    if common and sum(len(m["token"]) for m in common) * 3 >= len(analysed) * 2:
        return PasswordProblem(
            "password_common",
            "is on the list of common passwords leaked in breaches (or close to one): "
            "attackers try these first; choose something else",
        )
    if result["score"] < settings.min_password_score:
        feedback = result["feedback"]
        advice = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        return PasswordProblem(
            "password_too_weak", f"is too easy to guess. {advice or 'Add another word or two.'}".strip()
        )
    return None


async def check_new_password(
    settings: AuthSettings,
    password: str,
    *,
    email: str | None,
    name: str | None = None,
    field: str = "password",
) -> None:
    """Refuse a password a user is about to set: ``Unprocessable`` (422) naming ``field``, with
    the rule it breaks as its code. For sign-up, password change, operator resets and the
    password-reset flow (``recovery``): pass the account's e-mail and name."""
    problem = await asyncio.to_thread(password_problem, settings, password, email=email, name=name)
    if problem is not None:
        raise Unprocessable(f"{field}: {problem.reason}", field=field, code=problem.code)
