"""Results on known data: the SQL counts are the hand-counted ones, the statistics are gbstats'
own on those counts, the sample-ratio check agrees with scipy, and a stopped experiment keeps
its final results."""

from __future__ import annotations

import httpx
import pytest
from gbstats.bayesian.tests import EffectBayesianABTest
from gbstats.frequentist.tests import TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic
from scipy.stats import chisquare
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_owned_org, sql

EXPERIMENT = {
    "key": "onboarding-checklist",
    "name": "Onboarding checklist",
    "variants": [
        {"key": "control", "name": "No checklist", "weight": 0.4},
        {"key": "checklist", "name": "Checklist", "weight": 0.6},
    ],
    "primary_metric": {"kind": "event", "event": "purchase"},
}


async def test_results_match_hand_counts_and_gbstats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}/experiments"
    experiment = (await client.post(url, headers=owner.headers, json=EXPERIMENT)).json()
    await client.post(f"{url}/{experiment['id']}/start", headers=owner.headers)
    users = [
        r[0]
        for r in await sql(
            session,
            "INSERT INTO users (email) SELECT 'exp-' || g || '@example.com' FROM generate_series(1, 230) g RETURNING id",
        )
    ]
    control, variant = users[:100], users[100:]  # 100 and 130 users: a split of 43/57 for 40/60 planned
    await sql(
        session,
        "INSERT INTO experiment_assignments (organization_id, experiment_id, user_id, variant_name, variant_index, "
        "bucket, assigned_at) SELECT :org, :exp, u, CASE WHEN i <= 100 THEN 'control' ELSE 'checklist' END, "
        "CASE WHEN i <= 100 THEN 0 ELSE 1 END, 0.5, now() - interval '2 days' "
        "FROM unnest(CAST(:users AS uuid[])) WITH ORDINALITY AS t(u, i)",
        org=org["id"],
        exp=experiment["id"],
        users=users,
    )

    async def events(who: list[object], name: str, ago: str) -> None:
        await sql(
            session,
            "INSERT INTO events (timestamp, event_name, organization_id, user_id) "
            "SELECT now() - CAST(:ago AS interval), :name, :org, u FROM unnest(CAST(:who AS uuid[])) u",
            ago=ago,
            name=name,
            org=org["id"],
            who=who,
        )

    await events(control[:10], "purchase", "1 day")  # 10 control conversions ...
    await events(control[:1], "purchase", "20 hours")  # ... one user twice, counted once
    await events(control[10:15], "purchase", "3 days")  # before their assignment: not counted
    await events(control[15:20], "page_viewed", "1 day")  # another event: not counted
    await events(variant[:26], "purchase", "1 day")  # 26 of 130 variant users

    answer = await client.get(f"{url}/{experiment['id']}/results", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    results = answer.json()
    got = [(v["key"], v["exposures"], v["conversions"]) for v in results["variants"]]
    assert got == [("control", 100, 10), ("checklist", 130, 26)]
    treated = results["variants"][1]
    assert treated["conversion_rate"] == pytest.approx(0.2) and treated["uplift"] == pytest.approx(1.0)

    a, b = ProportionStatistic(n=100, sum=10), ProportionStatistic(n=130, sum=26)
    frequentist = TwoSidedTTest(a, b).compute_result()
    bayesian = EffectBayesianABTest(a, b).compute_result()
    assert (treated["ci_low"], treated["ci_high"]) == (
        pytest.approx(frequentist.ci[0]),
        pytest.approx(frequentist.ci[1]),
    )
    assert treated["p_value"] == pytest.approx(frequentist.p_value)
    assert treated["chance_to_beat_control"] == pytest.approx(bayesian.chance_to_win)
    assert treated["risk"] == pytest.approx(bayesian.risk[1])
    assert (
        0.1 < treated["p_value"] < 0.2 and 0.85 < treated["chance_to_beat_control"] < 0.99
    )  # a sensible figure
    srm = chisquare([100, 130], [230 * 0.4, 230 * 0.6]).pvalue
    assert results["srm_p_value"] == pytest.approx(srm) and results["srm_mismatch"] is False

    # Stopping keeps the results; an event after the end changes neither them nor a recount.
    stopped = await client.post(f"{url}/{experiment['id']}/stop", headers=owner.headers)
    assert stopped.status_code == 200
    await events(control[50:60], "purchase", "-1 hour")
    final = (await client.get(f"{url}/{experiment['id']}/results", headers=owner.headers)).json()
    assert final["final"] is True and final["variants"] == results["variants"]
    recount = await client.get(f"{url}/{experiment['id']}/results?event=purchase", headers=owner.headers)
    assert recount.json()["final"] is False and recount.json()["variants"] == results["variants"]
    other = (
        await client.get(f"{url}/{experiment['id']}/results?event=page_viewed", headers=owner.headers)
    ).json()
    assert [v["conversions"] for v in other["variants"]] == [5, 0]
    # No variant user sent it: gbstats has no variance to work with, so no statistics are claimed.
    assert other["variants"][1]["uplift"] is None and other["variants"][1]["p_value"] is None
