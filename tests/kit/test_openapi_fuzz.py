"""Every operation of ``/openapi.json``, fuzzed with schemathesis through the ASGI app.

For each operation schemathesis generates ``EXAMPLES`` requests from the operation's own schema
(derandomized: the same requests every run), and each is sent twice: as a member of an
organization (its owner, the member who may do the most) and as a platform admin. Every answer
must be no 5xx, and have a status, a content type, headers and a body that the operation
documents (errors included: every operation documents its 4XX and 5XX with the error shape).

Requests go through the ``client`` fixture (the real app, in the test's transaction, rolled back
at the end); schemathesis only generates the cases and validates the answers
(``case.validate_response``). The ids in a path are real where they are cheap to make: each
operation that takes an organization gets a fresh one of the owner's (so deleting or archiving
it does not starve the next operations), with the team, workspace, role, assignment, invitation
it names; likewise a funnel, a dashboard and its usage session, a plan; a member is the owner, a
user an admin acts on is a bystander. Other ids (Stripe's objects, notifications) are whatever
schemathesis generates, usually unknown (404).

Excluded, and why:

- ``POST /api/auth/logout`` is sent with a session of its own: it revokes the token it is sent
  with, which every later request needs.
- Billing operations that call Stripe answer ``503 stripe_not_configured`` here (the suite's
  app has no Stripe key; the live billing tests run them against localstripe): that documented
  answer passes every check but "no 5xx"; any other 5xx fails.
- Rate limits are off: hundreds of sign-ins from one address would otherwise end in 429s that
  hide everything after them.

Budget: under a minute on a quiet 2-core machine (measured: docs/api-errors.md). For a deeper
run: ``SAASKIT_TEST_FUZZ_EXAMPLES=30`` (more requests per operation) and
``SAASKIT_TEST_FUZZ_MODE=negative`` (requests that break their schema, which must all be 4xx).
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.state import Runtime
from tests.factories import make_admin, make_org
from tests.helpers import SignedUp, login, signup, with_limits

MODE = GenerationMode(os.environ.get("SAASKIT_TEST_FUZZ_MODE", "positive"))
EXAMPLES = int(os.environ.get("SAASKIT_TEST_FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ENDS_SESSION = {"POST /api/auth/logout"}
SENT = ("method", "url", "headers", "params", "json", "content", "data", "files")


def generated_cases(operation: Any, count: int) -> list[Any]:
    """``count`` cases for ``operation``, the same ones every run."""
    cases: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=MODE))
    def collect(case: Any) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:  # nothing to get wrong (negative mode, no parameters)
        return []
    return cases


def checks_for(response: httpx.Response) -> list[Any]:
    """Every check; all but "no 5xx" for the documented 503 of Stripe not being configured."""
    if response.status_code == 503:
        try:
            if response.json()["error"]["code"] == "stripe_not_configured":
                return [check for check in CHECKS if check is not not_a_server_error]
        except (ValueError, KeyError, TypeError):
            pass
    return CHECKS


async def test_every_operation_answers_as_documented(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    started, cpu = time.monotonic(), time.process_time()
    with_limits(runtime, enabled=False)
    admin = await make_admin(client, session)
    owner = await signup(client)
    bystander = await signup(client)
    # The fuzzed requests register dashboards too: room for them and for real_ids' ones.
    roomy = await client.put(
        f"/api/admin/users/{owner.id}/max-dashboards", headers=admin.headers, json={"max_dashboards": 10_000}
    )
    assert roomy.status_code == 200, roomy.text
    document = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: dict[tuple[str, str], str] = {}  # (operation, failure code) -> the first example
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        ids = await real_ids(client, operation.path, owner, admin, bystander)
        for case in generated_cases(operation, EXAMPLES):
            if ids:
                case.path_parameters = {**(case.path_parameters or {}), **ids}
            for who in (owner, admin):
                headers = await _headers(client, who, label)
                kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
                response = await client.request(**{k: v for k, v in kwargs.items() if k in SENT})
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=checks_for(response))
                except FailureGroup as exc:
                    for failure in exc.exceptions:
                        key = (label, f"{failure.code} {failure.title}")
                        role = "admin" if who is admin else "owner"
                        failures.setdefault(key, f"as {role}: {response.status_code} {response.text[:300]}")
    elapsed = time.monotonic() - started
    sent = sum(statuses.values())
    print(
        f"schemathesis: {sent} requests in {elapsed:.1f} s ({time.process_time() - cpu:.1f} s CPU): {statuses}"
    )
    report = [f"{label}: {kind}\n    {example}" for (label, kind), example in sorted(failures.items())]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(report)


async def real_ids(
    client: httpx.AsyncClient, path: str, owner: SignedUp, admin: SignedUp, bystander: SignedUp
) -> dict[str, str]:
    """Existing ids for the parameters of ``path`` that name things cheap to make."""

    async def made(url: str, body: dict[str, Any], who: SignedUp = owner) -> dict[str, Any]:
        answer = await client.post(url, json=body, headers=who.headers)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    ids: dict[str, str] = {}
    if "{org_id}" in path:
        ids["org_id"] = org = (await make_org(client, owner, "Fuzzed"))["id"]
        if "{team_id}" in path:
            ids["team_id"] = (await made(f"/api/orgs/{org}/teams", {"name": "Team"}))["id"]
        if "{workspace_id}" in path:
            ids["workspace_id"] = (await made(f"/api/orgs/{org}/workspaces", {"name": "Space"}))["id"]
        if "{role_id}" in path or "{assignment_id}" in path:
            ids["role_id"] = role = (
                await made(f"/api/orgs/{org}/roles", {"name": "fuzzed", "permissions": []})
            )["id"]
            if "{assignment_id}" in path:
                assignment = await made(
                    f"/api/orgs/{org}/role-assignments", {"user_id": str(owner.id), "role_id": role}
                )
                ids["assignment_id"] = assignment["id"]
        if "{invitation_id}" in path:
            invitation = await made(
                f"/api/orgs/{org}/invitations", {"email": f"{uuid.uuid4().hex[:8]}@example.com"}
            )
            ids["invitation_id"] = invitation["id"]
    if "{user_id}" in path:  # a member of the organization; a bystander for the admin's actions
        ids["user_id"] = str(owner.id if "{org_id}" in path else bystander.id)
    if "{funnel_id}" in path:
        ids["funnel_id"] = (
            await made("/api/insights/funnels", {"name": "f", "steps": [{"name": "a", "event": "a"}]}, admin)
        )["id"]
    if "{dashboard_id}" in path or path == "/api/sessions/{session_id}/end":
        dashboard = (await made("/api/dashboards", {"device_name": "TV"}))["id"]
        if path == "/api/sessions/{session_id}/end":
            ids["session_id"] = (await made("/api/sessions/start", {"dashboard_id": dashboard}))["id"]
        else:
            ids["dashboard_id"] = dashboard
    if "{plan_id}" in path:
        plan = {
            "name": f"Plan {uuid.uuid4().hex[:8]}",
            "tier": "pro",
            "billing_interval": "month",
            "price_cents": 900,
        }
        ids["plan_id"] = (await made("/api/admin/billing/plans", plan, admin))["id"]
    return ids


async def _headers(client: httpx.AsyncClient, who: SignedUp, label: str) -> dict[str, str]:
    if label in ENDS_SESSION:
        # A session of its own, which the request may end.
        answer = await login(client, who.email)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}
    return who.headers


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
