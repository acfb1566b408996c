"""The admin review queue in process (ASGI): the queue with its htmx fragments, a cluster's page
with its accounts, evidence and actions, and an account's clusters on its user page."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.trust import tasks
from tests.admin.conftest import form_sign_in, login_token
from tests.factories import make_admin, sql
from tests.trust.conftest import account, trial


async def test_queue_cluster_page_and_account_page(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    assert (await form_sign_in(client, admin.email)).status_code == 303
    device = "page-farm-" + uuid.uuid4().hex
    farm = [await account(session, device=device) for _ in range(3)]
    for days_ago, user_id in zip((3, 2, 1), farm, strict=True):
        await trial(session, user_id, days_ago)
    office = "page-office-" + uuid.uuid4().hex
    for _ in range(3):
        await account(session, ip=office)
    await tasks.sweep_in(session, full=True)
    cluster_id = (await sql(session, "SELECT id FROM account_clusters WHERE identifier_hash = :h", h=device))[
        0
    ][0]

    page = await client.get("/admin/trust")
    assert page.status_code == 200, page.text
    assert f'data-cluster="{cluster_id}"' in page.text and office[:16] not in page.text
    assert "trial_from_cluster" in page.text
    # htmx: the filter asks for the fragment only.
    fragment = await client.get(
        "/admin/trust?include_low=1", headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert office[:16] in fragment.text and device[:16] in fragment.text
    patterns = await client.get(
        "/admin/trust?min_confidence=0.7", headers={"HX-Request": "true", "HX-Target": "patterns"}
    )
    assert patterns.text.count("data-pattern=") == 1
    bad = await client.get("/admin/trust?risk=extreme")
    assert bad.status_code == 400

    detail = await client.get(f"/admin/trust/clusters/{cluster_id}")
    assert detail.status_code == 200
    assert device in detail.text and detail.text.count("data-member=") == 3
    assert (await client.get(f"/admin/trust/clusters/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/admin/trust/clusters/not-an-id")).status_code == 404

    # A false positive from the cluster page, with a note: back to the page, audited.
    pattern_id = (await sql(session, "SELECT id FROM abuse_patterns WHERE user_id = :u", u=farm[1]))[0][0]
    csrf = login_token(detail.text)
    answer = await client.post(
        f"/admin/trust/patterns/{pattern_id}/action",
        data={
            "csrf_token": csrf,
            "action": "false_positive",
            "note": "sisters",
            "back": f"/admin/trust/clusters/{cluster_id}",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/admin/trust/clusters/{cluster_id}"
    row = await sql(
        session, "SELECT action_taken, admin_notes FROM abuse_patterns WHERE id = :p", p=pattern_id
    )
    assert row[0][0] == "false_positive" and row[0][1].endswith("sisters")
    # Never an open redirect.
    answer = await client.post(
        f"/admin/trust/patterns/{pattern_id}/action",
        data={"csrf_token": csrf, "action": "note", "note": "x", "back": "https://evil.example/"},
    )
    assert answer.headers["location"] == "/admin/trust"
    # A warning from the queue: the account is told (in the app; the mail is queued), audited.
    warned_id = (await sql(session, "SELECT id FROM abuse_patterns WHERE user_id = :u", u=farm[2]))[0][0]
    answer = await client.post(
        f"/admin/trust/patterns/{warned_id}/action", data={"csrf_token": csrf, "action": "warn"}
    )
    assert answer.status_code == 303
    told = await sql(
        session,
        "SELECT (SELECT count(*) FROM notifications WHERE user_id = :u AND kind = 'account_warning'), "
        "(SELECT count(*) FROM email_outbox WHERE user_id = :u AND template = 'account_warning'), "
        "(SELECT action_taken FROM abuse_patterns WHERE id = :p)",
        u=farm[2],
        p=warned_id,
    )
    assert tuple(told[0]) == (1, 1, "warned")
    answer = await client.post(
        f"/admin/trust/clusters/{cluster_id}/action", data={"csrf_token": csrf, "action": "shared_network"}
    )
    assert answer.status_code == 303  # refused with a message: a device cluster is no network
    assert (await sql(session, "SELECT is_shared_network FROM account_clusters WHERE id = :c", c=cluster_id))[
        0
    ][0] is False

    # The account's page shows its clusters and patterns.
    user_page = await client.get(f"/admin/users/{farm[2]}")
    assert user_page.status_code == 200
    section = user_page.text[user_page.text.index('id="trust"') :]
    assert f"/admin/trust/clusters/{cluster_id}" in section and "trial_from_cluster" in section
    assert re.search(r"device_fingerprint</a></td><td><span class=\"badge badge-bad\">high", section)
