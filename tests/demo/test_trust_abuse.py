"""``saaskit demo`` (and ``serve --demo``) inject the trust scenario among the demo's users and run
the sweep: the admin's review queue has content, every rule finds its abuse, and the legitimate
office is not flagged."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from saaskit.config import Settings
from saaskit.demo.config import DemoConfig, resolve_now
from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.demo.conftest import build, cloned_database


async def test_the_demo_fills_the_review_queue(
    pg_server: str, migrated_db: DbUnderTest, settings: Settings
) -> None:
    config = DemoConfig(
        users=80,
        days=3,
        seed=7,
        now=resolve_now(None, datetime.now(UTC)),
        activity_events=400,
        jobs=1,
        abuse=True,
    )
    with cloned_database(pg_server, migrated_db) as db:
        built = await build(db, settings, config)
        with psycopg.connect(libpq_url(db.owner_url)) as conn:
            rules = dict(conn.execute("SELECT rule, count(*) FROM abuse_patterns GROUP BY rule").fetchall())
            queue = conn.execute(
                "SELECT count(*) FROM account_clusters WHERE member_count >= 2 AND risk_level <> 'low'"
            ).fetchone()
            firings = dict(conn.execute("SELECT rule, fired_count FROM abuse_rule_firings").fetchall())
    report = built.summary.abuse
    assert report is not None and report.office_flagged == 0
    scores = {s.rule: s for s in report.scores}
    assert set(scores) == {
        "trial_from_cluster",
        "card_testing",
        "failing_cards",
        "shared_card",
        "refund_after_credits",
        "credential_stuffing",
        "rate_limit_hits",
        "junk_ingestion",
    }
    for score in report.scores:
        assert score.expected > 0 and score.recall == 1.0, score
    # Every rule's abuse is in the queue, and counted.
    for rule, score in scores.items():
        assert rules.get(rule, 0) >= score.expected, (rule, rules)
        assert firings[rule] == rules[rule]
    assert queue is not None and queue[0] > 0
