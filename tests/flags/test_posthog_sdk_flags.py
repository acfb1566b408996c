"""The official posthog-python SDK, unchanged, evaluating saaskit's flags over real HTTP: remotely
(/flags) and locally (definitions fetched with a "personal API key", here a member's session
token), and both agree, for person flags, multivariate flags with payloads and group flags."""

from __future__ import annotations

from typing import Any

import httpx
import posthog
import psycopg
import pytest

from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.live import ServeProcess

pytestmark = pytest.mark.live

FLAGS: list[dict[str, Any]] = [
    {"key": "everyone", "filters": {"groups": [{"rollout_percentage": 100}]}},
    {"key": "rollout-40", "filters": {"groups": [{"rollout_percentage": 40}]}},
    {
        "key": "pros-in-us",
        "filters": {
            "groups": [
                {
                    "properties": [
                        {"key": "plan", "operator": "exact", "value": ["pro", "team"]},
                        {"key": "country", "operator": "regex", "value": "^(US|CA)$"},
                    ],
                    "rollout_percentage": 75,
                },
                {"properties": [{"key": "age", "operator": "gte", "value": 65}]},
            ],
            "payloads": {"true": {"banner": "hello"}},
        },
    },
    {
        "key": "checkout",
        "filters": {
            "groups": [
                {"properties": [{"key": "plan", "value": "pro"}], "variant": "fast"},
                {"properties": [], "rollout_percentage": 60},
            ],
            "multivariate": {
                "variants": [
                    {"key": "control", "rollout_percentage": 50},
                    {"key": "fast", "rollout_percentage": 25},
                    {"key": "slow", "rollout_percentage": 25},
                ]
            },
            "payloads": {"fast": {"speed": 2}},
        },
    },
    {
        "key": "big-companies",
        "filters": {
            "groups": [
                {"properties": [{"key": "seats", "operator": "gt", "value": 10}], "rollout_percentage": 80}
            ],
            "aggregation_group_type_index": 0,
            "group_type": "company",
        },
    },
    {"key": "switched-off", "active": False, "filters": {"groups": [{"rollout_percentage": 100}]}},
]


def _setup(server: ServeProcess) -> tuple[str, str, str]:
    with httpx.Client(base_url=server.base) as http:
        owner = http.post(
            "/api/auth/signup", json={"email": "flags@example.com", "password": "a long password"}
        ).json()
        headers = {"Authorization": f"Bearer {owner['token']}"}
        org = http.post("/api/orgs", json={"name": "Flags Co"}, headers=headers).json()
        key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
        for flag in FLAGS:
            created = http.post(f"/api/orgs/{org['id']}/flags", json=flag, headers=headers)
            assert created.status_code == 201, created.text
    return key, owner["token"], org["id"]


def test_remote_and_local_evaluation_agree(live_server: ServeProcess, fresh_database: DbUnderTest) -> None:
    key, session_token, org_id = _setup(live_server)
    errors: list[Any] = []
    remote = posthog.Posthog(key, host=live_server.base, max_retries=1)
    local = posthog.Posthog(key, host=live_server.base, personal_api_key=session_token)
    remote.on_error = local.on_error = lambda error, batch: errors.append(error)
    try:
        local.load_feature_flags()
        assert sorted(f["key"] for f in local.feature_flags) == sorted(f["key"] for f in FLAGS)
        seen: dict[str, set[Any]] = {f["key"]: set() for f in FLAGS}
        for n in range(30):
            distinct_id = f"user-{n}"
            kwargs: dict[str, Any] = {
                "person_properties": {
                    "plan": ["pro", "team", "free"][n % 3],
                    "country": ["US", "DE"][n % 2],
                    "age": 50 + n,
                },
                "groups": {"company": f"company-{n}"},
                "group_properties": {"company": {"seats": n}},
            }
            # The current API: one /flags request per id, or none with local evaluation.
            ours = remote.evaluate_flags(distinct_id, **kwargs)
            theirs = local.evaluate_flags(distinct_id, only_evaluate_locally=True, **kwargs)
            for flag in FLAGS:
                key = flag["key"]
                value, local_value = ours.get_flag(key), theirs.get_flag(key)
                if flag.get("active") is False:
                    # As with PostHog: /flags answers for active flags only (the SDK says None),
                    # while the definitions list every flag (an inactive one is False locally).
                    assert (value, local_value) == (None, False)
                    continue
                assert value == local_value, (key, distinct_id, value, local_value)
                assert ours.is_enabled(key) == bool(value)
                assert ours.get_flag_payload(key) == theirs.get_flag_payload(key), (key, distinct_id)
                if key == "checkout" and value == "fast":
                    assert ours.get_flag_payload(key) == {"speed": 2}
                seen[key].add(value)
                if n < 3:  # The older per-flag calls, deprecated but widely used.
                    assert remote.get_feature_flag(key, distinct_id, **kwargs) == value
                    assert remote.feature_enabled(key, distinct_id, **kwargs) == bool(value)
                    assert (
                        local.get_feature_flag(key, distinct_id, only_evaluate_locally=True, **kwargs)
                        == value
                    )
        assert seen["rollout-40"] == seen["pros-in-us"] == seen["big-companies"] == {True, False}
        assert seen["checkout"] >= {"control", "fast", "slow"} and seen["everyone"] == {True}
        # Without properties sent, the server uses what $identify's $set stored.
        remote.capture("$identify", distinct_id="alice", properties={"$set": {"plan": "pro"}})
        remote.flush()
        assert remote.get_feature_flag("checkout", "alice") == "fast"
        # An alias links ids: the previous id gets the person's flags too.
        remote.alias(previous_id="alice-laptop", distinct_id="alice")
        remote.flush()
        assert remote.get_feature_flag("checkout", "alice-laptop") == "fast"
    finally:
        remote.shutdown()
        local.shutdown()
    assert errors == []
    with psycopg.connect(libpq_url(fresh_database.owner_url)) as conn:
        called = conn.execute(
            "SELECT count(*) FROM events WHERE organization_id = %s AND event_name = '$feature_flag_called'",
            (org_id,),
        ).fetchone()
    assert called is not None and called[0] > 0, "the SDK's $feature_flag_called events are stored"
