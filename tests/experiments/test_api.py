"""The experiments API: lifecycle, permissions, design frozen once started, assignment recorded
once, isolation between organizations."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.app import create_app
from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.state import Runtime
from tests.factories import invite_and_join, make_owned_org, one
from tests.helpers import error_of

EXPERIMENT: dict[str, Any] = {
    "key": "checkout-button",
    "name": "Checkout button colour",
    "hypothesis": "A green button gets more purchases.",
    "variants": [
        {"key": "control", "name": "Blue", "weight": 0.5},
        {"key": "green", "name": "Green", "weight": 0.5},
    ],
    "primary_metric": {"kind": "event", "event": "purchase"},
}


async def test_lifecycle_permissions_and_one_assignment_per_user(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    member = await invite_and_join(client, owner, org["id"], "member")
    viewer = await invite_and_join(client, owner, org["id"], "viewer")
    url = f"/api/orgs/{org['id']}/experiments"

    uneven = {**EXPERIMENT, "variants": [{**v, "weight": 0.3} for v in EXPERIMENT["variants"]]}
    bad = await client.post(url, headers=owner.headers, json=uneven)
    assert bad.status_code == 422 and error_of(bad)["field"].endswith("variants")
    assert (await client.post(url, headers=member.headers, json=EXPERIMENT)).status_code == 403
    created = await client.post(url, headers=owner.headers, json=EXPERIMENT)
    assert created.status_code == 201, created.text
    experiment = created.json()
    assert (experiment["status"], experiment["seed"], experiment["traffic_percentage"]) == (
        "draft",
        "checkout-button",
        100,
    )
    again = await client.post(url, headers=owner.headers, json=EXPERIMENT)
    assert again.status_code == 409 and error_of(again)["field"] == "key"
    exp_url = f"{url}/{experiment['id']}"

    # Members read, viewers do not; nobody is assigned before the start.
    listed = await client.get(url, headers=member.headers)
    assert [e["key"] for e in listed.json()["items"]] == ["checkout-button"]
    assert (await client.get(url, headers=viewer.headers)).status_code == 403
    early = await client.post(f"{exp_url}/assign", headers=member.headers, json={})
    assert early.status_code == 409 and error_of(early)["field"] == "status"

    patched = await client.patch(
        exp_url,
        headers=owner.headers,
        json={"traffic_percentage": 100, "namespace": {"id": "checkout", "start": 0, "end": 1}},
    )
    assert patched.status_code == 200 and patched.json()["namespace"] == {
        "id": "checkout",
        "start": 0,
        "end": 1,
    }
    started = await client.post(f"{exp_url}/start", headers=owner.headers)
    assert started.json()["status"] == "running" and started.json()["start_date"] is not None
    frozen = await client.patch(
        exp_url, headers=owner.headers, json={"variants": EXPERIMENT["variants"][::-1]}
    )
    assert frozen.status_code == 409 and error_of(frozen)["field"] == "variants"
    renamed = await client.patch(exp_url, headers=owner.headers, json={"name": "Button colour"})
    assert renamed.json()["name"] == "Button colour"
    assert (await client.post(f"{exp_url}/start", headers=owner.headers)).status_code == 409

    # The member's own variant: decided once, the same on every call, one row.
    first = (await client.post(f"{exp_url}/assign", headers=member.headers, json={})).json()
    assert first["in_experiment"] is True and first["variant"] in {"control", "green"}
    for _ in range(3):
        assert (await client.post(f"{exp_url}/assign", headers=member.headers, json={})).json() == first
    by_owner = await client.post(f"{exp_url}/assign", headers=owner.headers, json={"user_id": str(member.id)})
    assert by_owner.json() == first
    someone_else = await client.post(
        f"{exp_url}/assign", headers=member.headers, json={"user_id": str(owner.id)}
    )
    assert someone_else.status_code == 403
    await set_context(session, SERVICE)
    rows = await one(
        session,
        "SELECT count(*) FROM experiment_assignments WHERE experiment_id = :e AND user_id = :u",
        e=experiment["id"],
        u=member.id,
    )
    assert rows == (1,)
    listed = (await client.get(f"{exp_url}/assignments", headers=owner.headers)).json()
    assert listed["items"] == [first]
    other_variant = "green" if first["variant"] == "control" else "control"
    none = await client.get(f"{exp_url}/assignments?variant={other_variant}", headers=owner.headers)
    assert none.json()["items"] == []
    assert (await client.get(f"{exp_url}/assignments", headers=viewer.headers)).status_code == 403

    # Stopped: the recorded variant stays, nobody new is assigned, a running one cannot be deleted.
    assert (await client.delete(exp_url, headers=owner.headers)).status_code == 409
    stopped = await client.post(f"{exp_url}/stop", headers=owner.headers)
    assert stopped.json()["status"] == "stopped" and stopped.json()["end_date"] is not None
    assert (await client.post(f"{exp_url}/assign", headers=member.headers, json={})).json() == first
    late = (await client.post(f"{exp_url}/assign", headers=viewer.headers, json={})).json()
    assert (late["in_experiment"], late["variant"]) == (False, None)
    assert (await client.post(f"{exp_url}/stop", headers=owner.headers)).status_code == 409

    # Another organization's owner finds nothing.
    stranger, other = await make_owned_org(client, "Other")
    assert (
        await client.get(f"/api/orgs/{other['id']}/experiments/{experiment['id']}", headers=stranger.headers)
    ).status_code == 404
    assert (await client.get(exp_url, headers=stranger.headers)).status_code == 404

    assert (await client.delete(exp_url, headers=owner.headers)).status_code == 204
    assert (await client.get(exp_url, headers=owner.headers)).status_code == 404


async def test_targeting_and_traffic_leave_users_out_without_recording_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, org = await make_owned_org(client)
    url = f"/api/orgs/{org['id']}/experiments"
    malformed = await client.post(
        url, headers=owner.headers, json={**EXPERIMENT, "targeting": {"$or": "pro"}}
    )
    assert malformed.status_code == 422 and error_of(malformed)["field"].endswith("targeting")
    body = {**EXPERIMENT, "targeting": {"plan": {"$in": ["pro", "team"]}}}
    experiment = (await client.post(url, headers=owner.headers, json=body)).json()
    await client.post(f"{url}/{experiment['id']}/start", headers=owner.headers)
    assign = f"{url}/{experiment['id']}/assign"
    free = (await client.post(assign, headers=owner.headers, json={"attributes": {"plan": "free"}})).json()
    assert (free["in_experiment"], free["assigned_at"]) == (False, None)
    await set_context(session, SERVICE)
    assert await one(
        session,
        "SELECT count(*) FROM experiment_assignments WHERE experiment_id = :e",
        e=experiment["id"],
    ) == (0,)
    pro = (await client.post(assign, headers=owner.headers, json={"attributes": {"plan": "pro"}})).json()
    assert pro["in_experiment"] is True and pro["assigned_at"] is not None
    # Once recorded, the variant no longer depends on the attributes sent.
    assert (
        await client.post(assign, headers=owner.headers, json={"attributes": {"plan": "free"}})
    ).json() == pro


@pytest.mark.live
async def test_concurrent_first_calls_record_one_assignment(fresh_runtime: Runtime) -> None:
    """Committed, concurrent first calls for one user: one row, the same answer to each."""
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as live:
        owner, org = await make_owned_org(live)
        url = f"/api/orgs/{org['id']}/experiments"
        experiment = (await live.post(url, headers=owner.headers, json=EXPERIMENT)).json()
        await live.post(f"{url}/{experiment['id']}/start", headers=owner.headers)
        answers = await asyncio.gather(
            *[live.post(f"{url}/{experiment['id']}/assign", headers=owner.headers, json={}) for _ in range(6)]
        )
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    async with fresh_runtime.db.session(SERVICE) as session:
        count = await session.scalar(text("SELECT count(*) FROM experiment_assignments"))
    assert count == 1
