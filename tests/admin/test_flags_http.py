"""The Flags, Experiments and Persons pages over HTTP (ASGI, the test's rolled-back transaction):
lists and filters, a flag's edits through the flags service (validated, versioned, audited),
who sees what against the API's own evaluation, an experiment set up, started, stopped with its
results, a person's page; non-admins refused, CSRF, bad input answered 4xx (never 500)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.admin.conftest import AdminClient
from tests.factories import one, sql
from tests.tracking.conftest import Project, make_project

SPLIT = {
    "groups": [
        {
            "properties": [{"key": "plan", "operator": "exact", "value": ["pro", "team"]}],
            "rollout_percentage": 50,
        },
        {"properties": [], "rollout_percentage": 10},
    ],
    "multivariate": {
        "variants": [{"key": "control", "rollout_percentage": 50}, {"key": "test", "rollout_percentage": 50}]
    },
    "payloads": {"test": '{"color": "red"}'},
}


async def _flag(client: httpx.AsyncClient, project: Project, key: str, **extra: Any) -> str:
    answer = await client.post(
        f"/api/orgs/{project.org_id}/flags", headers=project.owner.headers, json={"key": key, **extra}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _capture(client: httpx.AsyncClient, project: Project, *events: dict[str, Any]) -> None:
    batch = [{"uuid": str(uuid.uuid4()), "properties": {}, **e} for e in events]
    answer = await client.post("/batch/", json={"api_key": project.key, "batch": batch})
    assert answer.status_code == 200, answer.text


async def test_flag_list_detail_edits_and_audit(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    http = admin_client.http
    project = await make_project(client)
    flag_id = await _flag(client, project, "new-checkout", name="The new checkout", filters=SPLIT)
    await _flag(client, project, "dark-mode", active=False)

    listed = await http.get(f"/admin/flags?organization={project.org_id}")
    assert listed.status_code == 200 and "new-checkout" in listed.text and "dark-mode" in listed.text
    only_off = await http.get(
        f"/admin/flags?organization={project.org_id}&active=no",
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    assert (
        "<html" not in only_off.text and "dark-mode" in only_off.text and "new-checkout" not in only_off.text
    )
    searched = await http.get(f"/admin/flags?q=CHECKOUT&organization={project.org_id}")
    assert "new-checkout" in searched.text and "dark-mode" not in searched.text

    page = await http.get(f"/admin/flags/{flag_id}")
    assert page.status_code == 200
    # Conditions read as sentences; variants with weights; the payload.
    assert "plan is pro or team" in page.text and "everyone" in page.text
    assert 'name="weight_1" min="0" max="100" step="any" value="50' in page.text
    assert "{&#34;color&#34;: &#34;red&#34;}" in page.text

    # Rollout of the second condition set: through the service, version + 1, audited.
    done = await admin_client.post(
        f"/admin/flags/{flag_id}/rollout", {"condition": "1", "rollout_percentage": "25"}
    )
    assert done.status_code == 303 and done.headers["location"] == f"/admin/flags/{flag_id}"
    row = await one(session, "SELECT version, filters FROM feature_flags WHERE id = :i", i=flag_id)
    assert row.version == 2 and row.filters["groups"][1]["rollout_percentage"] == 25
    assert row.filters["groups"][0]["rollout_percentage"] == 50
    # The variants' weights.
    done = await admin_client.post(f"/admin/flags/{flag_id}/variants", {"weight_0": "20", "weight_1": "80"})
    assert done.status_code == 303
    row = await one(session, "SELECT version, filters FROM feature_flags WHERE id = :i", i=flag_id)
    assert [v["rollout_percentage"] for v in row.filters["multivariate"]["variants"]] == [20, 80]
    # Off, then the audit rows: the admin, as platform admin.
    done = await admin_client.post(f"/admin/flags/{flag_id}/active", {"active": "off"})
    assert done.status_code == 303
    assert (await one(session, "SELECT active, version FROM feature_flags WHERE id = :i", i=flag_id)) == (
        False,
        4,
    )
    audit = await sql(
        session,
        "SELECT action, actor_id, metadata FROM activities WHERE entity_id = :i AND action LIKE '%updated' "
        "ORDER BY created_at, action",
        i=flag_id,
    )
    assert len(audit) == 3 and {a.actor_id for a in audit} == {admin_client.admin_id}
    page = await http.get(f"/admin/flags/{flag_id}")
    assert "Changed feature flag new-checkout: active." in page.text and "Turn on" in page.text

    # Refusals: weights not adding up to 100, a rollout out of range, an unknown condition set:
    # flashed, nothing changed.
    for path, data, message in (
        ("variants", {"weight_0": "20", "weight_1": "70"}, "must add up to 100"),
        ("variants", {"weight_0": "abc", "weight_1": "70"}, "a number from 0 to 100"),
        ("rollout", {"condition": "0", "rollout_percentage": "150"}, "a number from 0 to 100"),
        ("rollout", {"condition": "9", "rollout_percentage": "5"}, "no condition set"),
        ("active", {"active": "maybe"}, "on or off"),
    ):
        refused = await admin_client.post(f"/admin/flags/{flag_id}/{path}", data)
        assert refused.status_code == 303, (path, refused.text)
        followed = await http.get(refused.headers["location"])
        assert "flash-error" in followed.text and message in followed.text, (path, message)
    assert (await one(session, "SELECT version FROM feature_flags WHERE id = :i", i=flag_id)).version == 4


async def test_who_sees_what_matches_the_api_and_persons_pages(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    http = admin_client.http
    project = await make_project(client)
    await _flag(client, project, "split", filters=SPLIT)
    await _flag(
        client, project, "pros", filters={"groups": [{"properties": [{"key": "plan", "value": "pro"}]}]}
    )
    await _capture(
        client,
        project,
        {
            "event": "$identify",
            "distinct_id": "known-7",
            "properties": {"$anon_distinct_id": "anon-7", "$set": {"plan": "pro", "email": "k7@example.com"}},
        },
        {"event": "page_opened", "distinct_id": "anon-7", "properties": {"$groups": {"company": "acme"}}},
        {
            "event": "$groupidentify",
            "distinct_id": "known-7",
            "properties": {"$group_type": "company", "$group_key": "acme", "$group_set": {"size": 12}},
        },
        {
            "event": "$feature_flag_called",
            "distinct_id": "known-7",
            "properties": {"$feature_flag": "pros", "$feature_flag_response": True},
        },
    )
    for distinct_id, typed, properties in (
        ("known-7", "", None),
        ("someone-else", "plan=team\nseats=3", {"plan": "team", "seats": 3}),
    ):
        api = await client.post(
            f"/api/orgs/{project.org_id}/flags/evaluate",
            headers=project.owner.headers,
            json={"distinct_id": distinct_id, "person_properties": properties},
        )
        expected = {a["key"]: a["variant"] or a["enabled"] for a in api.json()}
        page = await http.get(
            "/admin/flags/who",
            params={"organization": project.org_id, "distinct_id": distinct_id, "properties": typed},
        )
        assert page.status_code == 200
        shown = dict(
            re.findall(r'<tr data-flag="([^"]+)">.*?<span class="badge[^"]*">([^<]+)</span>', page.text, re.S)
        )
        assert shown == {k: str(v).lower() if isinstance(v, bool) else v for k, v in expected.items()}
    assert expected["pros"] is False  # someone-else, on a plan the flag does not take
    bad = await http.get(
        "/admin/flags/who",
        params={"organization": project.org_id, "distinct_id": "x", "properties": "not a pair"},
    )
    assert bad.status_code == 400 and "properties: line 1" in bad.text
    bad = await http.get(
        "/admin/flags/who", params={"organization": project.org_id, "distinct_id": "x", "properties": "{oops"}
    )
    assert bad.status_code == 400

    # The flag page counts the $feature_flag_called event and evaluates the stored person.
    pros = (
        await one(
            session,
            "SELECT id FROM feature_flags WHERE key = 'pros' AND organization_id = :o",
            o=project.org_id,
        )
    ).id
    page = await http.get(f"/admin/flags/{pros}")
    assert re.search(
        r'<td class="mono">true</td><td class="num">1</td><td class="num">100.0%</td>', page.text
    )

    # Persons: the list, searchable by an id or a property; the person's page.
    listed = await http.get(f"/admin/persons?organization={project.org_id}")
    assert listed.status_code == 200 and "k7@example.com" in listed.text
    for q, found in (("anon-7", True), ("k7@EXAMPLE", True), ("nobody-like-this", False)):
        answer = await http.get("/admin/persons", params={"organization": project.org_id, "q": q})
        assert ("k7@example.com" in answer.text) is found, q
    person_id = (
        await one(session, "SELECT person_id FROM person_distinct_ids WHERE distinct_id = 'anon-7'")
    ).person_id
    page = await http.get(f"/admin/persons/{person_id}")
    assert page.status_code == 200
    for text in (
        "known-7",
        "anon-7",
        "k7@example.com",
        "page_opened",
        "$identify",
        "acme",
        '{"size": 12}',
    ):
        assert text in page.text, text


async def test_experiment_set_up_start_results_stop(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    http = admin_client.http
    project = await make_project(client)
    slug = (await one(session, "SELECT slug FROM organizations WHERE id = :o", o=project.org_id)).slug
    form = {
        "organization": slug,
        "key": "new-onboarding",
        "name": "New onboarding",
        "hypothesis": "Shorter is better.",
        "variants": "control 0.5 Control\nshort 0.5 Short form",
        "traffic_percentage": "100",
        "metric_event": "signup_done",
    }
    created = await admin_client.post("/admin/experiments", form)
    assert created.status_code == 303, created.text
    experiment_id = created.headers["location"].rsplit("/", 1)[1]
    row = await one(
        session,
        "SELECT status, variants, primary_metric, created_by FROM experiments WHERE id = :i",
        i=experiment_id,
    )
    assert row.status == "draft" and [v["key"] for v in row.variants] == ["control", "short"]
    assert row.primary_metric == {"kind": "event", "event": "signup_done"}
    # Taken keys and bad designs come back on the form, as typed.
    for changes, status, message in (
        ({}, 409, "exists"),
        ({"key": "x2", "variants": "control 0.5\nshort 0.4"}, 422, "weights must sum to 1"),
        ({"key": "x3", "variants": "control half"}, 422, "is not a number"),
        ({"key": "x4", "organization": "no-such-org"}, 422, "no organization"),
        ({"key": "Bad Key"}, 422, "key"),
        ({"key": "x5", "traffic_percentage": "lots"}, 422, "traffic_percentage"),
    ):
        refused = await admin_client.post("/admin/experiments", {**form, **changes})
        assert refused.status_code == status and message in refused.text, (changes, refused.text[-3000:])
        assert f'value="{changes.get("key", form["key"])}"' in refused.text  # the form as typed

    started = await admin_client.post(f"/admin/experiments/{experiment_id}/start")
    assert started.status_code == 303
    # Members assigned through the API, a conversion for one of them.
    assigned = []
    for _ in range(6):
        from tests.factories import invite_and_join

        member = await invite_and_join(client, project.owner, project.org_id)
        answer = await client.post(
            f"/api/orgs/{project.org_id}/experiments/{experiment_id}/assign", headers=member.headers, json={}
        )
        assert answer.status_code == 200, answer.text
        assigned.append((member, answer.json()["variant"]))
    await sql(
        session,
        "INSERT INTO events (organization_id, user_id, distinct_id, event_name, timestamp) "
        "VALUES (:o, :u, :d, 'signup_done', now() + interval '1 second')",
        o=project.org_id,
        u=assigned[0][0].id,
        d=str(assigned[0][0].id),
    )
    page = await http.get(f"/admin/experiments/{experiment_id}")
    assert page.status_code == 200 and "Stop" in page.text
    counts = {v: sum(1 for _, got in assigned if got == v) for v in ("control", "short")}
    for variant, n in counts.items():
        match = re.search(rf'<tr data-variant="{variant}">.*?<td class="num">(\d+)</td>', page.text, re.S)
        assert match and int(match.group(1)) == n, variant
    assert "Sample ratio check" in page.text or "Sample ratio mismatch" in page.text
    if counts["control"] and counts["short"] and assigned[0][1] == "control":
        assert "<svg" in page.text  # an interval is drawn once both arms have users
    other = await http.get(f"/admin/experiments/{experiment_id}?event=nothing_sent")
    assert other.status_code == 200 and "nothing_sent" in other.text
    # Secondary metrics are listed; a mean metric shows the mean per person.
    await sql(
        session,
        "UPDATE experiments SET secondary_metrics = CAST(:m AS jsonb) WHERE id = :i",
        m='[{"kind": "mean", "event": "signup_done"}]',
        i=experiment_id,
    )
    mean = await http.get(f"/admin/experiments/{experiment_id}?secondary=0")
    assert mean.status_code == 200 and "Mean per person" in mean.text and "mean signup_done" in mean.text
    assert (
        await http.get(f"/admin/experiments/{experiment_id}?secondary=5")
    ).status_code == 200  # said on the page

    stopped = await admin_client.post(f"/admin/experiments/{experiment_id}/stop")
    assert stopped.status_code == 303
    row = await one(session, "SELECT status, final_results FROM experiments WHERE id = :i", i=experiment_id)
    assert row.status == "stopped" and row.final_results is not None
    again = await admin_client.post(f"/admin/experiments/{experiment_id}/stop")
    followed = await http.get(again.headers["location"])
    assert "only a running one stops" in followed.text and "kept when stopped" in followed.text
    actions = await sql(
        session,
        "SELECT action FROM activities WHERE entity_id = :i ORDER BY created_at, action",
        i=experiment_id,
    )
    assert {a.action for a in actions} >= {"experiment.created", "experiment.started", "experiment.stopped"}
    listed = await http.get(f"/admin/experiments?status=stopped&organization={project.org_id}")
    assert "New onboarding" in listed.text
    listed = await http.get(f"/admin/experiments?status=running&organization={project.org_id}")
    assert "New onboarding" not in listed.text


async def test_bad_input_and_unknown_ids_are_4xx(admin_client: AdminClient) -> None:
    http = admin_client.http
    for path, status in (
        ("/admin/flags?active=maybe", 400),
        ("/admin/flags?organization=no-such-org", 400),
        ("/admin/flags?cursor=garbage", 400),
        ("/admin/experiments?status=paused", 400),
        ("/admin/persons?organization=" + str(uuid.uuid4()), 400),
        (f"/admin/flags/{uuid.uuid4()}", 404),
        ("/admin/flags/not-an-id", 404),
        (f"/admin/experiments/{uuid.uuid4()}", 404),
        (f"/admin/persons/{uuid.uuid4()}", 404),
        ("/admin/persons?q=" + "x" * 300, 422),
    ):
        answer = await http.get(path)
        assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
        assert "<html" in answer.text or answer.status_code == 422
    # NUL never reaches the database (the edge refuses it); bytes that are not UTF-8 are read as
    # replacement characters: a search like any other.
    for path in ("/admin/persons?q=%00", "/admin/flags/who?distinct_id=a%00b"):
        answer = await http.get(path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
    assert (await http.get("/admin/flags?q=%ED%A0%80")).status_code == 200
    for path in (f"/admin/flags/{uuid.uuid4()}/active", f"/admin/experiments/{uuid.uuid4()}/start"):
        assert (await admin_client.post(path, {"active": "on"})).status_code == 404
    for path in (
        "/admin/flags",
        "/admin/flags/who",
        "/admin/experiments",
        "/admin/experiments/new",
        "/admin/persons",
    ):
        answer = await http.get(path)
        assert answer.status_code == 200 and 'aria-current="page"' in answer.text, path


async def test_non_admins_and_csrf_less_posts_are_refused(
    admin_client: AdminClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    project = await make_project(client)
    flag_id = await _flag(client, project, "guarded", filters=SPLIT)
    # Without the token: 403, nothing changes.
    for path, data in (
        (f"/admin/flags/{flag_id}/active", {"active": "off"}),
        (f"/admin/flags/{flag_id}/rollout", {"condition": "0", "rollout_percentage": "1"}),
        (f"/admin/flags/{flag_id}/variants", {"weight_0": "10", "weight_1": "90"}),
        (
            "/admin/experiments",
            {"organization": project.org_id, "key": "k", "name": "n", "variants": "a 0.5\nb 0.5"},
        ),
    ):
        refused = await admin_client.http.post(path, data=data)
        assert refused.status_code == 403, path
    assert (await one(session, "SELECT version FROM feature_flags WHERE id = :i", i=flag_id)).version == 1
    assert (await one(session, "SELECT count(*) AS n FROM experiments")).n == 0
    # A signed-in organization owner (not a platform admin) is sent to the admin sign-in page.
    admin_client.http.cookies.clear()
    for path in (
        "/admin/flags",
        f"/admin/flags/{flag_id}",
        "/admin/experiments",
        "/admin/persons",
        "/admin/flags/who",
    ):
        answer = await client.get(path, headers=project.owner.headers)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login"), path
    posted = await client.post(
        f"/admin/flags/{flag_id}/active", data={"active": "off"}, headers=project.owner.headers
    )
    assert posted.status_code in (303, 403)
    assert (await one(session, "SELECT active FROM feature_flags WHERE id = :i", i=flag_id)).active is True
