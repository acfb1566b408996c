"""Feature flags through the API: CRUD and its permissions and row-level security, the SDK
endpoints (/flags v1 and v2, /decide v3 and v4, definitions) with CORS on every answer, and
persons ($identify, $create_alias, $set, $set_once) feeding evaluation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.flags.evaluation import evaluate
from tests.factories import invite_and_join, one, set_rls
from tests.helpers import error_of
from tests.tracking.conftest import Project, make_project

ORIGIN = {"Origin": "https://app.example.com"}
VARIANTS = {
    "variants": [
        {"key": "control", "rollout_percentage": 50},
        {"key": "test", "rollout_percentage": 50},
    ]
}


async def _create(client: httpx.AsyncClient, project: Project, **flag: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/orgs/{project.org_id}/flags", headers=project.owner.headers, json=flag
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _visible_flags(session: AsyncSession, organization_id: str) -> int:
    await set_rls(session, organization_id=organization_id)
    return int((await session.execute(text("SELECT count(*) FROM feature_flags"))).scalar_one())


async def test_flags_crud_permissions_and_isolation(client: httpx.AsyncClient, session: AsyncSession) -> None:
    project = await make_project(client)
    base = f"/api/orgs/{project.org_id}/flags"
    flag = await _create(
        client,
        project,
        key="new-checkout",
        name="The new checkout",
        filters={
            "groups": [
                {"properties": [{"key": "plan", "value": ["pro"], "operator": "exact"}], "label": "x"}
            ],
            "multivariate": VARIANTS,
            "payloads": {"test": {"color": "red"}},
        },
    )
    assert flag["version"] == 1 and flag["number"] > 0 and flag["active"] is True
    assert flag["filters"]["payloads"] == {"test": '{"color": "red"}'}, (
        "payloads are JSON text, as in PostHog"
    )
    assert flag["filters"]["groups"][0]["label"] == "x", "PostHog's extra keys are kept"
    taken = await client.post(base, headers=project.owner.headers, json={"key": "new-checkout"})
    assert taken.status_code == 409 and error_of(taken)["field"] == "key"
    for bad, field in [
        ({"multivariate": {"variants": [{"key": "a", "rollout_percentage": 60}]}}, "filters.multivariate"),
        ({"groups": [{"rollout_percentage": 101}]}, "filters.groups.0.rollout_percentage"),
        (
            {"groups": [{"properties": [{"key": "a", "operator": "in_cohort"}]}]},
            "filters.groups.0.properties.0.operator",
        ),
        ({"payloads": {"nope": 1}}, "filters"),
        ({"aggregation_group_type_index": 0}, "filters"),
        ({"holdout": {"id": 1, "exclusion_percentage": 10}}, "filters"),
    ]:
        refused = await client.post(base, headers=project.owner.headers, json={"key": "bad", "filters": bad})
        assert refused.status_code == 422 and error_of(refused)["field"] == field, (bad, refused.text)

    member = await invite_and_join(client, project.owner, project.org_id, "member")
    viewer = await invite_and_join(client, project.owner, project.org_id, "viewer")
    listed = await client.get(base, headers=member.headers)
    assert listed.status_code == 200 and [f["key"] for f in listed.json()["items"]] == ["new-checkout"]
    assert (await client.post(base, headers=member.headers, json={"key": "x"})).status_code == 403
    assert (await client.get(base, headers=viewer.headers)).status_code == 403
    outsider = await make_project(client)
    assert (await client.get(f"{base}/{flag['id']}", headers=outsider.owner.headers)).status_code == 404

    patched = await client.patch(
        f"{base}/{flag['id']}", headers=project.owner.headers, json={"active": False}
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2 and patched.json()["active"] is False
    same = await client.patch(f"{base}/{flag['id']}", headers=project.owner.headers, json={"active": False})
    assert same.json()["version"] == 2, "no change, no new version"

    # Row-level security: another organization's context sees none of the flags.
    assert await _visible_flags(session, outsider.org_id) == 0
    assert await _visible_flags(session, project.org_id) == 1
    actions = await one(
        session,
        "SELECT array_agg(action ORDER BY created_at) FROM activities WHERE entity_type = 'feature_flag'",
    )
    assert actions[0] == ["feature_flag.created", "feature_flag.updated"]
    assert (await client.delete(f"{base}/{flag['id']}", headers=project.owner.headers)).status_code == 204
    assert (await client.get(f"{base}/{flag['id']}", headers=project.owner.headers)).status_code == 404


async def test_sdk_endpoints_answer_in_every_shape_with_cors(client: httpx.AsyncClient) -> None:
    project = await make_project(client)
    on = await _create(client, project, key="on", filters={"groups": [{"rollout_percentage": 100}]})
    await _create(
        client,
        project,
        key="pro-only",
        filters={
            "groups": [{"properties": [{"key": "plan", "value": "pro"}]}],
            "payloads": {"true": "[1, 2]"},
        },
    )
    await _create(client, project, key="split", filters={"groups": [{}], "multivariate": VARIANTS})
    await _create(client, project, key="inactive", active=False, filters={"groups": [{}]})
    split_value = evaluate(
        {"key": "split", "filters": {"groups": [{}], "multivariate": VARIANTS}}, "user-1"
    ).value
    body = {"api_key": project.key, "distinct_id": "user-1", "person_properties": {"plan": "pro"}}

    v1 = await client.post("/flags?v=1", json=body, headers=ORIGIN)
    assert v1.status_code == 200 and v1.headers["access-control-allow-origin"] == ORIGIN["Origin"]
    assert v1.json()["featureFlags"] == {"on": True, "pro-only": True, "split": split_value}
    assert v1.json()["featureFlagPayloads"] == {"pro-only": "[1, 2]"}

    v2 = (await client.post("/flags/?v=2", json={**body, "person_properties": {}})).json()
    assert set(v2["flags"]) == {"on", "pro-only", "split"} and "featureFlags" not in v2
    assert v2["flags"]["on"] == {
        "key": "on",
        "enabled": True,
        "variant": None,
        "reason": {"code": "condition_match", "condition_index": 0, "description": "Matched condition set 1"},
        "metadata": {"id": on["number"], "version": 1, "description": "", "payload": None},
    }
    assert v2["flags"]["pro-only"]["enabled"] is False
    assert v2["flags"]["pro-only"]["reason"]["code"] == "no_condition_match"
    assert v2["flags"]["split"]["variant"] == split_value

    v3 = (await client.post("/decide/?v=3", json={**body, "token": project.key, "api_key": None})).json()
    assert v3["featureFlags"]["split"] == split_value and v3["sessionRecording"] is False
    v4 = (await client.post("/decide?v=4", json={**body, "flag_keys_to_evaluate": ["on"]})).json()
    assert list(v4["flags"]) == ["on"] and v4["supportedCompression"] == ["gzip", "gzip-js"]

    config = await client.get(f"/array/{project.key}/config", headers=ORIGIN)
    assert config.status_code == 200 and config.json()["hasFeatureFlags"] is True, config.text
    assert config.json()["sessionRecording"] is False and config.json()["token"] == project.key
    script = await client.get(f"/array/{project.key}/config.js")
    assert script.headers["content-type"].startswith("application/javascript")
    assert (
        script.text.startswith("(function(){window._POSTHOG_REMOTE_CONFIG")
        and '"hasFeatureFlags":true' in script.text
    )
    for response in (
        await client.get("/array/phc_unknown/config", headers=ORIGIN),
        await client.post("/flags?v=2", json={**body, "api_key": "phc_unknown"}, headers=ORIGIN),
        await client.post("/flags?v=2", json={"api_key": project.key}, headers=ORIGIN),
        await client.post("/flags?v=2", content=b"\x1f\x8b\x08garbage", headers=ORIGIN),
        await client.get(f"/flags/definitions?token={project.key}", headers=ORIGIN),
        await client.options("/flags/", headers={**ORIGIN, "Access-Control-Request-Method": "POST"}),
    ):
        assert response.headers["access-control-allow-origin"] == ORIGIN["Origin"], response.text
    assert [r.status_code for r in (v1,)] == [200]


async def test_definitions_need_a_member_with_flags_read(client: httpx.AsyncClient) -> None:
    project = await make_project(client)
    await _create(
        client,
        project,
        key="companies",
        filters={
            "groups": [{"rollout_percentage": 30}],
            "aggregation_group_type_index": 0,
            "group_type": "company",
        },
    )
    clash = await client.post(
        f"/api/orgs/{project.org_id}/flags",
        headers=project.owner.headers,
        json={"key": "teams", "filters": {"aggregation_group_type_index": 0, "group_type": "team"}},
    )
    assert clash.status_code == 422 and error_of(clash)["field"] == "filters.group_type"
    url = f"/flags/definitions?token={project.key}&send_cohorts"
    assert (await client.get(url)).status_code == 401
    viewer = await invite_and_join(client, project.owner, project.org_id, "viewer")
    assert (await client.get(url, headers=viewer.headers)).status_code == 403
    other = await make_project(client)
    assert (await client.get(url, headers=other.owner.headers)).status_code == 403, "not a member"
    member = await invite_and_join(client, project.owner, project.org_id, "member")
    answer = await client.get(url, headers=member.headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["group_type_mapping"] == {"0": "company"} and body["cohorts"] == {}
    assert [(f["key"], f["active"], f["filters"]["aggregation_group_type_index"]) for f in body["flags"]] == [
        ("companies", True, 0)
    ]
    again = await client.get(url, headers={**member.headers, "If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    legacy = await client.get(
        f"/api/feature_flag/local_evaluation?token={project.key}", headers=member.headers
    )
    assert legacy.json() == body


async def test_persons_alias_and_properties_feed_flags(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    project = await make_project(client)
    await _create(
        client,
        project,
        key="pros",
        filters={
            "groups": [{"properties": [{"key": "plan", "value": "pro"}, {"key": "source", "value": "ad"}]}]
        },
    )

    async def capture(*events: dict[str, Any]) -> None:
        batch = [{"uuid": str(uuid.uuid4()), "properties": {}, **e} for e in events]
        response = await client.post("/batch/", json={"api_key": project.key, "batch": batch})
        assert response.status_code == 200, response.text

    async def pros(distinct_id: str) -> bool:
        answer = await client.post("/flags?v=1", json={"api_key": project.key, "distinct_id": distinct_id})
        return bool(answer.json()["featureFlags"]["pros"])

    await capture(
        {"event": "$pageview", "distinct_id": "anon", "properties": {"$set_once": {"source": "ad"}}},
        {"event": "$pageview", "distinct_id": "anon", "properties": {"$set_once": {"source": "search"}}},
    )
    assert not await pros("anon")
    await capture(
        {
            "event": "$identify",
            "distinct_id": "known",
            "properties": {"$anon_distinct_id": "anon", "$set": {"plan": "pro"}},
        }
    )
    assert await pros("anon") and await pros("known"), "both ids are one person, with both properties"
    # Python's alias(previous_id="device-9", distinct_id="known") links a third id to the same person.
    await capture({"event": "$create_alias", "distinct_id": "known", "properties": {"alias": "device-9"}})
    assert await pros("device-9")
    # Two persons merge when an alias links them; $unset removes a property.
    await capture(
        {"event": "$set", "distinct_id": "other", "properties": {"$set": {"plan": "free", "age": 3}}}
    )
    await capture({"event": "$create_alias", "distinct_id": "known", "properties": {"alias": "other"}})
    await capture({"event": "x", "distinct_id": "other", "properties": {"$unset": ["source"]}})
    persons, ids, properties = await one(
        session,
        "SELECT count(DISTINCT p.id), array_agg(d.distinct_id ORDER BY d.distinct_id), min(p.properties::text) "
        "FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id",
    )
    assert (persons, ids) == (1, ["anon", "device-9", "known", "other"])
    assert properties == '{"age": 3, "plan": "pro"}', "the linking id's person wins; source unset"
    assert not await pros("other")

    # $groupidentify keeps a group's properties; group flags read them under those sent.
    await _create(
        client,
        project,
        key="big",
        filters={
            "groups": [{"properties": [{"key": "seats", "operator": "gte", "value": 10}]}],
            "aggregation_group_type_index": 0,
            "group_type": "company",
        },
    )
    group_set = {"$group_type": "company", "$group_key": "acme", "$group_set": {"seats": 12}}
    await capture({"event": "$groupidentify", "distinct_id": "known", "properties": group_set})

    async def big(**extra: Any) -> bool:
        body = {"api_key": project.key, "distinct_id": "z", "groups": {"company": "acme"}, **extra}
        return bool((await client.post("/flags?v=1", json=body)).json()["featureFlags"]["big"])

    assert await big()
    assert not await big(group_properties={"company": {"seats": 2}})
    assert not await big(groups={"company": "other"})


async def test_identified_persons_merge_only_dangerously(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """PostHog's guard: $identify and $create_alias never merge a person that is already
    identified into another (two people signing in on one browser stay two); $merge_dangerously
    does. An anonymous person still merges into an identified one."""
    project = await make_project(client)

    async def capture(event: str, distinct_id: str, **properties: Any) -> None:
        body = {"api_key": project.key, "event": event, "distinct_id": distinct_id, "properties": properties}
        assert (await client.post("/capture/", json=body)).status_code == 200

    async def persons_of() -> dict[str, list[str]]:
        rows = await session.execute(
            text(
                "SELECT p.id::text, array_agg(d.distinct_id ORDER BY d.distinct_id), bool_and(p.is_identified) "
                "FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id "
                "WHERE p.organization_id = :org GROUP BY p.id"
            ),
            {"org": project.org_id},
        )
        result = {}
        for _, ids, identified in rows.all():
            assert identified, f"{ids}: every linked person is identified"
            result[ids[0]] = ids
        return result

    await capture("$identify", "alice", **{"$anon_distinct_id": "a-device", "$set": {"name": "Alice"}})
    await capture("$identify", "bob", **{"$anon_distinct_id": "b-device", "$set": {"name": "Bob"}})
    # Bob signs in on Alice's browser: posthog-js sends Alice's id as the anonymous one.
    await capture("$identify", "bob", **{"$anon_distinct_id": "alice"})
    await capture("$create_alias", "bob", alias="a-device")
    assert await persons_of() == {"a-device": ["a-device", "alice"], "b-device": ["b-device", "bob"]}
    # An anonymous id with its own (unidentified) person still merges.
    await capture("$pageview", "c-device", **{"$set": {"name": "anon", "plan": "pro"}})
    await capture("$identify", "bob", **{"$anon_distinct_id": "c-device"})
    merged = await persons_of()
    assert merged["b-device"] == ["b-device", "bob", "c-device"]
    assert (
        await one(
            session,
            "SELECT properties FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id "
            "WHERE d.distinct_id = 'bob'",
        )
    ) == ({"name": "Bob", "plan": "pro"},)
    await capture("$merge_dangerously", "bob", alias="alice")
    assert await persons_of() == {"a-device": ["a-device", "alice", "b-device", "bob", "c-device"]}


async def test_person_changes_in_one_batch_apply_in_event_order(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Property-only changes are gathered and applied together; links and $unset cut the batch:
    the result equals applying the events one by one."""
    project = await make_project(client)

    def event(name: str, distinct_id: str, **properties: Any) -> dict[str, Any]:
        return {
            "uuid": str(uuid.uuid4()),
            "event": name,
            "distinct_id": distinct_id,
            "properties": properties,
        }

    batch = [
        event("e", "a", **{"$set": {"x": 1}, "$set_once": {"y": 1}}),
        event("e", "a", **{"$set_once": {"y": 2, "z": 2}}),
        event("e", "b", **{"$set": {"x": 5}}),
        event("e", "a", **{"$set": {"x": 3}}),
        event("$identify", "b", **{"$anon_distinct_id": "a"}),  # a's person merges into b's: b's wins
        event("e", "a", **{"$unset": ["z"]}),
        event("e", "b", **{"$set_once": {"w": 1, "y": 7}, "$set": {"x": 9}}),
        event("e", "c", **{"$set": {"v": [1, {"deep": True}]}}),
        event("e", "c", **{"$set": {"v": [1, {"deep": True}]}}),  # the same again: no change
    ]
    sent = await client.post("/batch/", json={"api_key": project.key, "batch": batch})
    assert sent.status_code == 200, sent.text
    rows = await session.execute(
        text(
            "SELECT array_agg(d.distinct_id ORDER BY d.distinct_id), min(p.properties::text) FROM persons p "
            "JOIN person_distinct_ids d ON d.person_id = p.id WHERE p.organization_id = :org "
            "GROUP BY p.id ORDER BY 1"
        ),
        {"org": project.org_id},
    )
    assert [tuple(r) for r in rows.all()] == [
        (["a", "b"], '{"w": 1, "x": 9, "y": 1}'),
        (["c"], '{"v": [1, {"deep": true}]}'),
    ]
