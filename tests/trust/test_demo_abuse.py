"""Each rule's precision and recall on injected abuse among normal users (saaskit.demo.abuse),
and the legitimate shared office not flagged. ``SAASKIT_TRUST_DEMO_USERS`` sizes the run (the
documented run in docs/trust.md used 10,000)."""

from __future__ import annotations

import os

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.demo import abuse


async def test_rules_find_the_abuse_and_spare_the_office(session: AsyncSession) -> None:
    users = int(os.environ.get("SAASKIT_TRUST_DEMO_USERS", "2000"))
    truth = await abuse.inject(session, users)
    report = await abuse.measure(session, truth)
    lines = [
        f"{users} normal users; grouping {report.grouping_seconds:.2f} s, rules {report.sweep_seconds:.2f} s"
    ]
    for score in report.scores:
        lines.append(
            f"{score.rule}: expected {score.expected}, found {score.found}, "
            f"precision {score.precision:.3f}, recall {score.recall:.3f}"
        )
    print("\n".join(lines))
    assert report.office_flagged == 0
    scores = {score.rule: score for score in report.scores}
    for score in report.scores:
        assert score.expected > 0
        assert score.recall == 1.0, lines
    # The families sharing a laptop are the trial rule's only false positives (one per family).
    trial = scores.pop("trial_from_cluster")
    assert trial.found - trial.true_positives == len(truth.families) // 2, lines
    assert all(score.precision == 1.0 for score in scores.values()), lines
