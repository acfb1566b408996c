"""Every metric kind on generated data, against an independent oracle: the test keeps each
person's events, invoices and links in Python, computes each metric's value per person from them
with its own code, and checks the API's per-variant sums and means, then every statistic against
gbstats called on those oracle figures.

The data mixes the ways an event reaches a person: by user id, by the assignment's own distinct
id (an anonymous visitor), by another distinct id of the same PostHog person (``$identify`` /
``$create_alias`` links), and by a distinct id the user was identified as
(``tracking_identities``); an event matching two ways counts once."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from gbstats.bayesian.tests import EffectBayesianABTest
from gbstats.frequentist.tests import TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_owned_org, now_of, sql

NAMES = ("signup", "activate", "purchase", "browse")


@dataclass
class Person:
    variant: int
    assigned_at: datetime
    user_id: uuid.UUID | None = None
    distinct_id: str | None = None
    events: list[tuple[str, datetime, Any]] = field(default_factory=list)
    invoices: list[tuple[int, str, datetime, str]] = field(default_factory=list)


def _funnel(person: Person, steps: list[str], window: timedelta | None) -> float:
    """Greedy: each step's first occurrence at or after the previous one's (the earliest start
    gives the most room), all within the window of the first."""
    ordered = sorted(person.events, key=lambda e: e[1])
    at, first = person.assigned_at, None
    for step in steps:
        found = next((t for name, t, _ in ordered if name == step and t >= at), None)
        if found is None or (first is not None and window is not None and found > first + window):
            return 0.0
        first = first or found
        at = found
    return 1.0


def _value(person: Person, metric: dict[str, Any], until: datetime) -> float | None:
    kind = metric["kind"]
    if kind == "event":
        return float(any(n == metric["event"] for n, _, _ in person.events))
    if kind == "funnel":
        window = timedelta(hours=metric["window_hours"]) if "window_hours" in metric else None
        return _funnel(person, metric["steps"], window)
    if kind == "mean":
        hits = [v for n, _, v in person.events if n == metric["event"]]
        if "property" not in metric:
            return float(len(hits))
        return float(sum(v for v in hits if isinstance(v, int | float)))
    if kind == "revenue":
        return sum(c for c, cur, t, status in person.invoices if cur == "usd" and status == "paid") / 100
    start, end = (person.assigned_at + timedelta(days=metric[k]) for k in ("start_day", "end_day"))
    if end > until:
        return None  # the window has not ended: not counted
    wanted = metric.get("event")
    return float(any(start <= t < end and wanted in (None, n) for n, t, _ in person.events))


METRICS: list[dict[str, Any]] = [
    {"kind": "event", "event": "purchase"},
    {"kind": "funnel", "steps": ["signup", "activate", "purchase"]},
    {"kind": "funnel", "steps": ["signup", "activate", "purchase"], "window_hours": 72},
    {"kind": "mean", "event": "purchase"},
    {"kind": "mean", "event": "purchase", "property": "amount"},
    {"kind": "revenue"},
    {"kind": "retention", "start_day": 7, "end_day": 14},
    {"kind": "retention", "event": "browse", "start_day": 2, "end_day": 6},
]


async def test_every_metric_matches_the_oracle_and_gbstats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    rng = random.Random(16)
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}/experiments"
    body = {
        "key": "pricing-page",
        "name": "Pricing page",
        "variants": [
            {"key": "control", "name": "Old", "weight": 0.5},
            {"key": "new", "name": "New", "weight": 0.5},
        ],
        "primary_metric": METRICS[0],
        "secondary_metrics": METRICS[1:],
    }
    experiment = (await client.post(url, headers=owner.headers, json=body)).json()
    assert (await client.post(f"{url}/{experiment['id']}/start", headers=owner.headers)).status_code == 200
    now = await now_of(session)
    users = [
        r[0]
        for r in await sql(
            session,
            "INSERT INTO users (email) SELECT 'm-' || g || '@example.com' FROM generate_series(1, 120) g "
            "RETURNING id",
        )
    ]
    people: list[Person] = []
    for i in range(160):
        assigned = now - timedelta(days=rng.choice([20, 18, 3]), hours=rng.randint(0, 23))
        person = Person(variant=i % 2, assigned_at=assigned)
        if i < 120:
            person.user_id = users[i]
        else:
            person.distinct_id = f"anon-{i}"
        people.append(person)
    for person in people:
        await sql(
            session,
            "INSERT INTO experiment_assignments (organization_id, experiment_id, user_id, distinct_id, "
            "variant_name, variant_index, bucket, assigned_at) VALUES (:org, :exp, :user, :did, :name, :v, 0.5, :at)",
            org=org["id"],
            exp=experiment["id"],
            user=person.user_id,
            did=person.distinct_id,
            name=("control", "new")[person.variant],
            v=person.variant,
            at=person.assigned_at,
        )
    rows: list[dict[str, Any]] = []
    for i, person in enumerate(people):
        # The ids that reach this person: a linked PostHog id, and a tracking identity for users.
        linked = f"device-{i}"
        person_id = (
            await sql(session, "INSERT INTO persons (organization_id) VALUES (:o) RETURNING id", o=org["id"])
        )[0][0]
        login = f"login-{i}" if person.user_id is not None and i % 3 == 0 else None
        own = [person.distinct_id] if person.distinct_id else []
        for did in [*own, linked, *([login] if login else [])]:
            await sql(
                session,
                "INSERT INTO person_distinct_ids (organization_id, distinct_id, person_id) VALUES (:o, :d, :p)",
                o=org["id"],
                d=did,
                p=person_id,
            )
        if login is not None:
            await sql(
                session,
                "INSERT INTO tracking_identities (organization_id, distinct_id, user_id) VALUES (:o, :d, :u)",
                o=org["id"],
                d=login,
                u=person.user_id,
            )
        # Effect: the new variant buys more, and larger.
        boost = 0.25 if person.variant else 0.0
        for _ in range(rng.randint(0, 14)):
            name = rng.choices(NAMES, weights=[3, 2, 1 + 4 * boost, 3])[0]
            at = person.assigned_at + timedelta(hours=rng.uniform(-48, 24 * 16))
            amount: Any = rng.choice([rng.randint(5, 50) * (1 + boost), "12", None])
            # A user's device id reaches them only through the login id's person, or when the
            # event also carries the user (a signed-in app); an anonymous visitor's through its person.
            ways: list[tuple[str, str | None]] = [("user", None), ("did", linked)]
            if person.distinct_id:
                ways.append(("did", person.distinct_id))
            if login is not None:
                ways.append(("did", login))
            way, did = rng.choice(ways)
            carries_user = way == "user" or login is None or rng.random() < 0.3
            user = person.user_id if carries_user else None
            if person.user_id is None and way == "user":
                did = linked
            if at > now:
                continue
            rows.append({"at": at, "name": name, "user": user, "did": did, "amount": amount})
            if at >= person.assigned_at:
                person.events.append((name, at, amount))
        if person.user_id is not None:
            for k in range(rng.randint(0, 2)):
                paid = person.assigned_at + timedelta(days=rng.uniform(-3, 10))
                cents, currency = (
                    rng.randint(500, 5000) * (2 if person.variant else 1),
                    rng.choice(["usd", "usd", "eur"]),
                )
                status = rng.choice(["paid", "paid", "open"])
                if paid > now:
                    continue
                await sql(
                    session,
                    "INSERT INTO invoices (user_id, stripe_invoice_id, status, currency, amount_paid_cents, paid_at) "
                    "VALUES (:u, :s, :st, :c, :a, :p)",
                    u=person.user_id,
                    s=f"in_{i}_{k}_{uuid.uuid4().hex[:8]}",
                    st=status,
                    c=currency,
                    a=cents,
                    p=paid,
                )
                if paid >= person.assigned_at:
                    person.invoices.append((cents, currency, paid, status))
    for row in rows:
        await sql(
            session,
            "INSERT INTO events (timestamp, event_name, organization_id, user_id, distinct_id, properties) "
            "VALUES (:at, :name, :org, :user, :did, jsonb_build_object('amount', CAST(:amount AS jsonb)))",
            at=row["at"],
            name=row["name"],
            org=org["id"],
            user=row["user"],
            did=row["did"],
            amount=None
            if row["amount"] is None
            else (f'"{row["amount"]}"' if isinstance(row["amount"], str) else str(row["amount"])),
        )

    for index, metric in enumerate(METRICS):
        query = "" if index == 0 else f"?secondary={index - 1}"
        answer = await client.get(f"{url}/{experiment['id']}/results{query}", headers=owner.headers)
        assert answer.status_code == 200, answer.text
        results = answer.json()
        values = [
            [v for p in people if p.variant == k and (v := _value(p, metric, now)) is not None]
            for k in (0, 1)
        ]
        proportion = metric["kind"] in ("event", "funnel", "retention")
        stats = [
            ProportionStatistic(n=len(vs), sum=sum(vs))
            if proportion
            else SampleMeanStatistic(n=len(vs), sum=sum(vs), sum_squares=sum(v * v for v in vs))
            for vs in values
        ]
        for k, got in enumerate(results["variants"]):
            assert got["exposures"] == len(values[k]), metric
            assert got["total"] == pytest.approx(sum(values[k])), metric
            assert got["conversions"] == sum(1 for v in values[k] if v > 0), metric
        treated = results["variants"][1]
        if stats[0].sum == 0:  # no relative uplift against a control of 0: nothing claimed
            assert treated["uplift"] is None and treated["p_value"] is None, metric
            continue
        frequentist = TwoSidedTTest(stats[0], stats[1]).compute_result()
        bayesian = EffectBayesianABTest(stats[0], stats[1]).compute_result()
        assert treated["uplift"] == pytest.approx(frequentist.expected), metric
        assert [treated["ci_low"], treated["ci_high"]] == pytest.approx(list(frequentist.ci)), metric
        assert treated["p_value"] == pytest.approx(frequentist.p_value), metric
        assert treated["chance_to_beat_control"] == pytest.approx(bayesian.chance_to_win), metric
        # The sample-ratio check reads everyone assigned, whatever the metric counts.
        assert results["srm_p_value"] == pytest.approx(1.0), metric
    # The effect is real: revenue per person roughly doubles and purchases rise.
    revenue = (
        await client.get(f"{url}/{experiment['id']}/results?secondary=4", headers=owner.headers)
    ).json()
    assert revenue["metric"]["kind"] == "revenue" and revenue["variants"][1]["uplift"] > 0.3


async def test_metric_definitions_are_checked(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}/experiments"
    base = {
        "key": "x",
        "name": "X",
        "variants": [{"key": "a", "name": "A", "weight": 0.5}, {"key": "b", "name": "B", "weight": 0.5}],
    }
    for metric, field_name in [
        ({"kind": "funnel", "steps": ["one"]}, "steps"),
        ({"kind": "mean"}, "primary_metric"),
        ({"kind": "retention", "start_day": 9, "end_day": 3}, "primary_metric"),
        ({"kind": "revenue", "currency": "US Dollars"}, "currency"),
        ({"kind": "page_time"}, "kind"),
        ({"kind": "event", "event": "x", "sql": "DROP TABLE events"}, "sql"),
    ]:
        answer = await client.post(url, headers=owner.headers, json={**base, "primary_metric": metric})
        assert answer.status_code == 422, (metric, answer.text)
        assert field_name in answer.text, (metric, answer.text)
    created = await client.post(
        url, headers=owner.headers, json={**base, "secondary_metrics": [{"kind": "revenue"}]}
    )
    exp = created.json()
    await client.post(f"{url}/{exp['id']}/start", headers=owner.headers)
    missing = await client.get(f"{url}/{exp['id']}/results?secondary=3", headers=owner.headers)
    assert missing.status_code == 404 and "secondary" in missing.text
    both = await client.get(f"{url}/{exp['id']}/results?secondary=0&event=x", headers=owner.headers)
    assert both.status_code == 422
