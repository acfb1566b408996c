"""GrowthBook's own Python SDK (the ``growthbook`` package, unchanged) reads saaskit's features
endpoint and puts every user in the same variant as saaskit's assignment."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from growthbook import GrowthBook

from saaskit.experiments import bucketing
from tests.factories import invite_and_join, make_owned_org
from tests.helpers import error_of
from tests.live import ServeProcess

VARIANTS = [
    {"key": "control", "name": "Control", "weight": 0.2},
    {"key": "annual-first", "name": "Annual plan first", "weight": 0.3},
    {"key": "no-free-tier", "name": "No free tier", "weight": 0.5},
]
EXPERIMENT: dict[str, Any] = {
    "key": "pricing-page",
    "name": "Pricing page",
    "variants": VARIANTS,
    "traffic_percentage": 80,
    "targeting": {"country": {"$in": ["FR", "DE"]}, "app_version": {"$vgte": "2.0.0"}},
    "namespace": {"id": "pricing", "start": 0.1, "end": 0.9},
}
ATTRIBUTES = {"country": "FR", "app_version": "2.3.1"}


def _sdk_value(features: dict[str, Any], attributes: dict[str, Any]) -> Any:
    return GrowthBook(features=features, attributes=attributes).get_feature_value("pricing-page", None)


async def test_growthbook_sdk_agrees_with_saaskit(client: httpx.AsyncClient) -> None:
    owner, org = await make_owned_org(client)
    members = [await invite_and_join(client, owner, org["id"]) for _ in range(3)]
    key = (await client.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=owner.headers)).json()["key"]
    url = f"/api/orgs/{org['id']}/experiments"
    draft = (await client.post(url, headers=owner.headers, json=EXPERIMENT)).json()

    # Only running experiments are served; an unknown key is a 404 naming the field.
    assert (await client.get(f"/api/features/{key}")).json() == {"features": {}}
    missing = await client.get("/api/features/phc_nope")
    assert missing.status_code == 404 and error_of(missing)["field"] == "client_key"
    await client.post(f"{url}/{draft['id']}/start", headers=owner.headers)
    answer = await client.get(f"/api/features/{key}")
    assert answer.headers["access-control-allow-origin"] == "*"
    features = answer.json()["features"]
    rule = features["pricing-page"]["rules"][0]
    assert (rule["hashVersion"], rule["seed"], rule["coverage"], rule["namespace"]) == (
        2,
        "pricing-page",
        0.8,
        ["pricing", 0.1, 0.9],
    )

    # The SDK and saaskit's algorithm agree for many users, in and out of the experiment.
    seen: set[Any] = set()
    for i in range(400):
        attributes = {
            "id": str(uuid.UUID(int=i * 7919 + 1)),
            **ATTRIBUTES,
            "country": ["FR", "US"][i % 5 == 0],
        }
        ours = bucketing.run(rule, attributes)
        expected = ours.value if ours.in_experiment else "control"
        assert _sdk_value(features, attributes) == expected, attributes
        seen.add(expected if ours.in_experiment else None)
    assert seen == {"control", "annual-first", "no-free-tier", None}  # every path was exercised

    # Real members: saaskit's recorded variant is what the SDK shows them.
    for user in [owner, *members]:
        assigned = await client.post(
            f"{url}/{draft['id']}/assign", headers=user.headers, json={"attributes": ATTRIBUTES}
        )
        mine = assigned.json()
        sdk = _sdk_value(features, {"id": str(user.id), **ATTRIBUTES})
        assert sdk == (mine["variant"] if mine["in_experiment"] else "control")


@pytest.mark.live
def test_growthbook_sdk_loads_features_from_a_live_server(live_server: ServeProcess) -> None:
    """The SDK fetches ``{api_host}/api/features/{client_key}`` itself, over real HTTP."""
    with httpx.Client(base_url=live_server.base) as http:
        owner = http.post(
            "/api/auth/signup", json={"email": "gb-owner@example.com", "password": "a long password"}
        ).json()
        headers = {"Authorization": f"Bearer {owner['token']}"}
        org = http.post("/api/orgs", json={"name": "GrowthBook test"}, headers=headers).json()
        key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
        body = {**EXPERIMENT, "traffic_percentage": 100, "targeting": {}, "namespace": None}
        experiment = http.post(f"/api/orgs/{org['id']}/experiments", headers=headers, json=body).json()
        http.post(f"/api/orgs/{org['id']}/experiments/{experiment['id']}/start", headers=headers)
        mine = http.post(
            f"/api/orgs/{org['id']}/experiments/{experiment['id']}/assign", headers=headers, json={}
        ).json()
    gb = GrowthBook(api_host=live_server.base, client_key=key, attributes={"id": owner["user"]["id"]})
    gb.load_features()
    result = gb.eval_feature("pricing-page")
    assert result.source == "experiment" and result.experimentResult is not None
    assert (result.value, result.experimentResult.inExperiment) == (mine["variant"], True)
    gb.destroy()
