"""The real posthog-node SDK (pinned, installed from npm into a cache directory on first use)
against a running saaskit, through ``posthog_node_sdk.mjs``: captured events are stored once
(v0 ``/batch/`` and capture v1), ``alias({distinctId, alias})`` links the ids, and
``getFeatureFlag`` / ``isFeatureEnabled`` / ``getFeatureFlagPayload`` remotely and with local
evaluation agree with each other and with saaskit's own evaluation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.flags.test_posthog_sdk_flags import FLAGS
from tests.live import ServeProcess

pytestmark = pytest.mark.live

# posthog-node and its one dependency, both exact, so the install is the same everywhere.
PACKAGES = ("posthog-node@5.74.0", "@posthog/core@1.69.2")
SCRIPT = Path(__file__).with_name("posthog_node_sdk.mjs")


@pytest.fixture(scope="session")
def node_modules(pytestconfig: pytest.Config) -> Path:
    """``node_modules`` holding the pinned packages: installed once per machine (a few seconds
    from the npm registry), into a directory named after the versions, made whole before it is
    moved into place so that parallel workers never see half an install."""
    cache = pytestconfig.cache
    base = cache.mkdir("posthog-node") if cache is not None else Path(tempfile.gettempdir()) / "saaskit-npm"
    target = base / "-".join(p.replace("/", "_").replace("@", "") for p in PACKAGES)
    modules = target / "node_modules"
    if (modules / "posthog-node" / "package.json").exists():
        return modules
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base, prefix="installing-"))
    npm = shutil.which("npm")
    assert npm is not None, "npm (Node.js 20) is needed to install posthog-node"
    subprocess.run(
        [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--no-save", *PACKAGES],
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        staging.rename(target)
    except OSError:  # another worker got there first
        shutil.rmtree(staging, ignore_errors=True)
    return modules


def _run(modules: Path, payload: dict[str, Any], capture_mode: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    environment = {**os.environ, "POSTHOG_CAPTURE_MODE": capture_mode}
    done = subprocess.run(
        [node, str(SCRIPT), json.dumps({**payload, "modules": str(modules)})],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _setup(server: ServeProcess) -> tuple[str, str, str, dict[str, str]]:
    with httpx.Client(base_url=server.base) as http:
        owner = http.post(
            "/api/auth/signup", json={"email": "node@example.com", "password": "a long password"}
        ).json()
        headers = {"Authorization": f"Bearer {owner['token']}"}
        org = http.post("/api/orgs", json={"name": "Node Co"}, headers=headers).json()
        key = http.post(f"/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]
        for flag in FLAGS:
            created = http.post(f"/api/orgs/{org['id']}/flags", json=flag, headers=headers)
            assert created.status_code == 201, created.text
        # The SDK's "personal API key": an organization API key that may read flags only.
        api_key = http.post(
            f"/api/orgs/{org['id']}/api-keys",
            json={"name": "node sdk", "scopes": ["flags:read"]},
            headers=headers,
        )
        assert api_key.status_code == 201, api_key.text
    return org["id"], key, api_key.json()["key"], headers


def _who(n: int) -> dict[str, Any]:
    return {
        "id": f"node-{n}",
        "personProperties": {
            "plan": ["pro", "team", "free"][n % 3],
            "country": ["US", "CA", "DE"][n % 3],
            "age": 55 + n,
        },
        "groups": {"company": f"company-{n}"},
        "groupProperties": {"company": {"seats": n}},
    }


def test_posthog_node_captures_aliases_and_evaluates_like_saaskit(
    live_server: ServeProcess, fresh_database: DbUnderTest, node_modules: Path
) -> None:
    org_id, key, personal_api_key, headers = _setup(live_server)
    ids = [_who(n) for n in range(20)]
    flags = [f["key"] for f in FLAGS]
    payload = {"host": live_server.base, "key": key, "personalApiKey": personal_api_key, "flags": flags}
    first = _run(node_modules, {**payload, "events": 60, "ids": ids, "evaluate": True}, "v0")
    assert first["errors"] == []
    # The same capture again in posthog-node's capture v1 mode (/i/v1/analytics/events).
    second = _run(node_modules, {**payload, "events": 40, "ids": [], "evaluate": False}, "v1")
    assert second["errors"] == []

    with httpx.Client(base_url=live_server.base, headers=headers) as http:
        ours = {
            who["id"]: {
                a["key"]: a
                for a in http.post(
                    f"/api/orgs/{org_id}/flags/evaluate",
                    json={
                        "distinct_id": who["id"],
                        "person_properties": who["personProperties"],
                        "groups": who["groups"],
                        "group_properties": who["groupProperties"],
                    },
                ).json()
            }
            for who in ids
        }
    answers = first["answers"]
    assert len(answers) == len(ids) * len(flags)
    seen: dict[str, set[Any]] = {k: set() for k in flags}
    for a in answers:
        mine = ours[a["id"]].get(a["key"])
        if mine is None:  # the inactive flag: not served remotely, False locally (as PostHog)
            assert (a["remote"], a["local"], a["localEnabled"]) == (None, False, False), a
            continue
        expected = mine["variant"] or mine["enabled"]
        assert a["remote"] == a["local"] == expected, (a, mine)
        assert a["remoteEnabled"] == a["localEnabled"] == bool(expected), a
        payload_value = json.loads(mine["payload"]) if isinstance(mine["payload"], str) else mine["payload"]
        assert a["remotePayload"] == a["localPayload"] == payload_value, (a, mine)
        seen[a["key"]].add(expected)
    # The comparison covered both outcomes of every targeted flag, and every variant.
    assert seen["rollout-40"] == seen["pros-in-us"] == seen["big-companies"] == {True, False}, seen
    assert seen["checkout"] >= {"control", "fast", "slow"}, seen
    assert any(a["remotePayload"] is not None for a in answers), "some payloads were compared"

    with psycopg.connect(libpq_url(fresh_database.owner_url)) as conn:
        total, distinct, libs = conn.execute(
            "SELECT count(*), count(DISTINCT (properties->>'i', properties->>'$lib')), "
            "array_agg(DISTINCT properties->>'$lib') FROM events "
            "WHERE organization_id = %s AND event_name = 'node_event'",
            (org_id,),
        ).fetchone()
        people = conn.execute(
            "SELECT count(DISTINCT person_id) FROM person_distinct_ids "
            "WHERE organization_id = %s AND distinct_id IN ('node-user-1', 'node-anon')",
            (org_id,),
        ).fetchone()
        plan = conn.execute(
            "SELECT p.properties->>'plan' FROM persons p JOIN person_distinct_ids d ON d.person_id = p.id "
            "WHERE d.organization_id = %s AND d.distinct_id = 'node-anon'",
            (org_id,),
        ).fetchone()
    assert total == 100 and distinct == 60, "60 + 40 events, each stored once (same i in both runs)"
    assert libs == ["posthog-node"]
    assert people == (1,), "alias({distinctId, alias}) links both ids to one person"
    assert plan == ("team",), "the person's $set reaches the aliased id"
