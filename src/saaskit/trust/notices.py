"""The notice a "warn" review action sends the account (in the app and by e-mail, kind
``account_warning``: not switchable, a warning must arrive): what was seen, in words the person
can act on, by the pattern's rule. It names no other account, hash or figure of the evidence
(the person may be the victim, as with credential stuffing)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import notifications
from saaskit.kit.state import Runtime

# rule -> (reason, advice)
WARNINGS: dict[str, tuple[str, str]] = {
    "trial_from_cluster": (
        "several accounts using the same device or card have each started a free trial.",
        "one free trial per person: further trials from your account may require a payment method.",
    ),
    "failing_cards": (
        "several payments from your account were declined in a short time.",
        "check your card with your bank, or add another payment method, before trying again.",
    ),
    "card_testing": (
        "many small payments from your account were declined within minutes.",
        "stop retrying payments; if this was not you, change your password now.",
    ),
    "shared_card": (
        "the card saved on your account is also used by accounts unrelated to yours.",
        "use a card of your own; if your card was used without your consent, tell your bank.",
    ),
    "refund_after_credits": (
        "a credit purchase was refunded or disputed after its credits were used.",
        "contact support before disputing a charge; further purchases may require a review.",
    ),
    "credential_stuffing": (
        "someone tried to sign in to your account from an address that tried many other accounts "
        "with failing passwords.",
        "change your password, do not reuse it elsewhere, and turn on two-factor sign-in.",
    ),
    "rate_limit_hits": (
        "requests from your account or API key were refused for exceeding the rate limits, again and "
        "again over a long time.",
        "slow your integration down (honour Retry-After) or contact support for a higher limit.",
    ),
    "junk_ingestion": (
        "most events sent with one of your organization's ingestion keys were rejected as invalid.",
        "fix the sender (the SDK's configuration) or rotate the key if it leaked.",
    ),
}
FALLBACK = (
    "activity on your account matched a pattern our trust and safety review looks for.",
    "write to support if anything is unclear.",
)


async def warn(
    session: AsyncSession, runtime: Runtime, user_id: uuid.UUID, rule: str, pattern_id: uuid.UUID
) -> notifications.Told:
    reason, advice = WARNINGS.get(rule, FALLBACK)
    return await notifications.tell(
        session,
        runtime,
        user_id=user_id,
        kind="account_warning",
        mail_template="account_warning",
        context={"reason": reason, "advice": advice},
        body=f"What we saw: {reason} What to do: {advice}",
        data={"pattern_id": str(pattern_id), "rule": rule},
    )
