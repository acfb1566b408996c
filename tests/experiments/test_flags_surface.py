"""Running experiments answered on /flags as PostHog multivariate flags: the same variant as
GrowthBook's algorithm and a GrowthBook SDK for the same id, recorded once per person, kept when
an anonymous visitor is identified (and then the same through the saaskit API), and a feature
flag with the same key wins."""

from __future__ import annotations

from typing import Any

import httpx
from growthbook import GrowthBook
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.experiments import bucketing
from tests.factories import invite_and_join, sql
from tests.tracking.conftest import Project, make_project

EXPERIMENT: dict[str, Any] = {
    "key": "checkout-flow",
    "name": "Checkout flow",
    "variants": [
        {"key": "control", "name": "Control", "weight": 0.5},
        {"key": "one-page", "name": "One page", "weight": 0.5},
    ],
    "traffic_percentage": 70,
    "targeting": {"plan": {"$ne": "enterprise"}},
}


async def _flags(
    client: httpx.AsyncClient, project: Project, distinct_id: str, **extra: Any
) -> dict[str, Any]:
    answer = await client.post(
        "/flags?v=2", json={"api_key": project.key, "distinct_id": distinct_id, **extra}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["flags"])


async def _capture(
    client: httpx.AsyncClient, project: Project, event: str, distinct_id: str, **props: Any
) -> None:
    body = {"api_key": project.key, "event": event, "distinct_id": distinct_id, "properties": props}
    assert (await client.post("/capture/", json=body)).status_code == 200


async def test_experiments_on_flags_follow_growthbook_and_the_person(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    project = await make_project(client)
    owner = project.owner
    url = f"/api/orgs/{project.org_id}/experiments"
    experiment = (await client.post(url, headers=owner.headers, json=EXPERIMENT)).json()
    assert "checkout-flow" not in await _flags(client, project, "v-0"), "a draft is not served"
    await client.post(f"{url}/{experiment['id']}/start", headers=owner.headers)
    features = (await client.get(f"/api/features/{project.key}")).json()["features"]
    rule = features["checkout-flow"]["rules"][0]

    # Anonymous visitors: /flags answers GrowthBook's decision on the distinct id, as the
    # GrowthBook SDK does given that id, and records those in the experiment once.
    inside = 0
    for i in range(60):
        did = f"visitor-{i}"
        expected = bucketing.run(rule, {"id": did})
        flag = (await _flags(client, project, did))["checkout-flow"]
        sdk = GrowthBook(features=features, attributes={"id": did}).get_feature_value("checkout-flow", None)
        if expected.in_experiment:
            inside += 1
            variant = EXPERIMENT["variants"][expected.variation]["key"]
            assert (flag["enabled"], flag["variant"], flag["reason"]["code"]) == (
                True,
                variant,
                "condition_match",
            )
            assert sdk == variant
        else:
            assert (flag["enabled"], flag["variant"]) == (False, None)
            assert sdk == "control"  # GrowthBook's default value outside the experiment
        assert (await _flags(client, project, did))["checkout-flow"] == flag, "asked again: the same"
    assert 30 <= inside <= 55  # 70% traffic of 60
    recorded = await sql(
        session,
        "SELECT count(*), count(user_id) FROM experiment_assignments WHERE experiment_id = :e",
        e=experiment["id"],
    )
    assert recorded == [(inside, 0)]
    # Targeting reads the person's properties, stored or sent.
    enterprise = await _flags(client, project, "big-co", person_properties={"plan": "enterprise"})
    assert enterprise["checkout-flow"]["enabled"] is False

    # An anonymous visitor who signs up keeps their variant: find one whose variant differs from
    # what the owner's own uuid would hash to, identify them as the owner, then ask the API.
    own = bucketing.run(rule, {"id": str(owner.id)})
    visitor = next(
        f"visitor-{i}"
        for i in range(60)
        if (r := bucketing.run(rule, {"id": f"visitor-{i}"})).in_experiment
        and (not own.in_experiment or r.variation != own.variation)
    )
    kept = (await _flags(client, project, visitor))["checkout-flow"]["variant"]
    await _capture(
        client,
        project,
        "$identify",
        "owner-laptop",
        **{"$anon_distinct_id": visitor, "$set": {"email": owner.email}},
    )
    via_api = await client.post(f"{url}/{experiment['id']}/assign", headers=owner.headers, json={})
    assert via_api.status_code == 200, via_api.text
    assert via_api.json()["variant"] == kept and via_api.json()["distinct_id"] == visitor
    # The row now names the user; asking by the new id finds the same row, no second one.
    assert (await _flags(client, project, "owner-laptop"))["checkout-flow"]["variant"] == kept
    rows = await sql(
        session,
        "SELECT distinct_id, user_id FROM experiment_assignments WHERE experiment_id = :e AND "
        "(user_id = :u OR distinct_id IN (:v, 'owner-laptop'))",
        e=experiment["id"],
        u=owner.id,
        v=visitor,
    )
    assert rows == [(visitor, owner.id)]

    # A member assigned through the API first gets that variant on /flags under their own id.
    member = await invite_and_join(client, owner, project.org_id)
    first = (await client.post(f"{url}/{experiment['id']}/assign", headers=member.headers, json={})).json()
    await _capture(client, project, "$identify", "member-phone", **{"$set": {"email": member.email}})
    answered = (await _flags(client, project, "member-phone"))["checkout-flow"]
    assert answered["variant"] == first["variant"] and answered["enabled"] == first["in_experiment"]

    # /decide v3 answers it too; flag_keys_to_evaluate leaves it out; a flag of the same key wins.
    decide = await client.post("/decide/?v=3", json={"api_key": project.key, "distinct_id": visitor})
    assert decide.json()["featureFlags"]["checkout-flow"] == kept
    assert "checkout-flow" not in await _flags(client, project, visitor, flag_keys_to_evaluate=["other"])
    made = await client.post(
        f"/api/orgs/{project.org_id}/flags",
        headers=owner.headers,
        json={"key": "checkout-flow", "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]}},
    )
    assert made.status_code == 201
    assert (await _flags(client, project, visitor))["checkout-flow"]["variant"] is None
    assert (await _flags(client, project, visitor))["checkout-flow"]["enabled"] is True
    await client.delete(f"/api/orgs/{project.org_id}/flags/{made.json()['id']}", headers=owner.headers)
    # A stopped experiment is no longer served, and nobody new is recorded.
    await client.post(f"{url}/{experiment['id']}/stop", headers=owner.headers)
    assert "checkout-flow" not in await _flags(client, project, "visitor-new")
