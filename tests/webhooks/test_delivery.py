"""Signed deliveries from committed changes to a real receiver, through the real job worker;
verified with the Standard Webhooks reference verifier (``standardwebhooks.Webhook.verify``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from saaskit import webhooks
from saaskit.jobs import connector_for, jobs
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.webhooks import delivery
from tests.factories import invite_and_join, make_owned_org
from tests.mail.conftest import drain
from tests.webhooks.conftest import RuntimeFactory
from tests.webhooks.helpers import add_endpoint, deliveries, emit, sql
from tests.webhooks.receiver import Receiver, Reply

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker


def verified(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    payload = Webhook(secret).verify(body, headers)
    assert isinstance(payload, dict)
    return payload


async def test_signed_events_reach_the_receiver_and_verify(
    receiver: Receiver, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    runtime = runtime_with()
    client = http_for(runtime)
    owner, org = await make_owned_org(client, "Hooked")
    org_id = org["id"]
    endpoint = await add_endpoint(
        client, owner, org_id, receiver.url, ["member.added", "invitation.accepted"]
    )
    secret = endpoint["secret"]
    assert secret.startswith("whsec_") and endpoint["is_enabled"] is True
    # Never stored raw: the row holds it sealed.
    stored = await sql(runtime, "SELECT t::text FROM webhook_endpoints t")
    assert secret not in str(stored) and secret.removeprefix("whsec_") not in str(stored)

    member = await invite_and_join(client, owner, org_id)
    await drain(runtime, until=lambda: _count(receiver, 2))
    by_type = {}
    for request in receiver.received:
        payload = verified(secret, request.body, request.headers)
        by_type[payload["type"]] = (payload, request)
    assert set(by_type) == {"member.added", "invitation.accepted"}
    added, request = by_type["member.added"]
    assert added["data"] == {
        "user_id": str(member.id),
        "email": member.email,
        "role": "member",
        "invited_by": str(owner.id),
    }
    assert str(added["timestamp"]).endswith("Z")
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["Content-Type"] == "application/json" and request.path == "/hook"
    accepted, _ = by_type["invitation.accepted"]
    assert accepted["data"]["email"] == member.email and accepted["data"]["user_id"] == str(member.id)
    # A forged body or another secret does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"member", b"owner"), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(request.body, request.headers)

    # The delivery log, one row per attempt.
    log = await deliveries(client, owner, org_id, endpoint["id"])
    assert len(log) == 2 and all(row["is_success"] and row["status_code"] == 200 for row in log)
    assert {row["event_type"] for row in log} == {"member.added", "invitation.accepted"}
    assert all(row["attempt"] == 1 and row["trigger"] == "event" and row["latency_ms"] >= 0 for row in log)
    assert all(row["response_excerpt"] == "ok" and row["next_attempt_at"] is None for row in log)
    # Keyset pages.
    first = await client.get(
        f"/api/orgs/{org_id}/webhooks/{endpoint['id']}/deliveries?limit=1", headers=owner.headers
    )
    second = await client.get(
        f"/api/orgs/{org_id}/webhooks/{endpoint['id']}/deliveries?limit=1&cursor={first.json()['next_cursor']}",
        headers=owner.headers,
    )
    assert [first.json()["items"][0]["id"], second.json()["items"][0]["id"]] == [row["id"] for row in log]
    assert second.json()["next_cursor"] is None

    # Not subscribed: member.removed is recorded but not sent here.
    removed = await client.delete(f"/api/orgs/{org_id}/members/{member.id}", headers=owner.headers)
    assert removed.status_code == 204, removed.text
    messages = (await client.get(f"/api/orgs/{org_id}/webhooks/messages", headers=owner.headers)).json()[
        "items"
    ]
    # Newest first; the two of the acceptance share its transaction's time.
    assert messages[0]["event_type"] == "member.removed"
    assert {m["event_type"] for m in messages[1:]} == {"invitation.accepted", "member.added"}
    assert messages[0]["data"]["reason"] == "removed"
    await drain(runtime)
    assert len(receiver.received) == 2

    # A test send, and a rotation: for the overlap both secrets verify the next delivery.
    rotated = await client.post(
        f"/api/orgs/{org_id}/webhooks/{endpoint['id']}/rotate-secret", headers=owner.headers
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != secret and rotated.json()["previous_secret_expires_at"] is not None
    tested = await client.post(f"/api/orgs/{org_id}/webhooks/{endpoint['id']}/test", headers=owner.headers)
    assert tested.status_code == 202, tested.text
    await drain(runtime, until=lambda: _count(receiver, 3))
    request = receiver.received[2]
    assert request.headers["webhook-id"] == tested.json()["webhook_id"]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(new_secret, request.body, request.headers)["type"] == "webhook.test"
    assert verified(secret, request.body, request.headers)["type"] == "webhook.test"

    # Permissions: a plain member reads nothing; the changes are in the audit log.
    other = await invite_and_join(client, owner, org_id)
    refused = await client.get(f"/api/orgs/{org_id}/webhooks", headers=other.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    actions = [
        row[0]
        for row in await sql(
            runtime,
            "SELECT action FROM activities WHERE entity_type = 'webhook_endpoint' ORDER BY created_at",
        )
    ]
    assert actions == [
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.tested",
    ]


async def _count(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def test_a_failure_is_retried_with_the_same_id_and_body(
    receiver: Receiver, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    receiver.replies.append(Reply(status=500, body=b"database down" * 500))
    runtime = runtime_with(retry_base_seconds=1.0, response_excerpt_bytes=64)
    client = http_for(runtime)
    owner, org = await make_owned_org(client, "Retried")
    endpoint = await add_endpoint(client, owner, org["id"], receiver.url)
    await emit(runtime, org["id"], "export.ready", {"export_id": "exp_1"})

    await drain(runtime, until=lambda: _count(receiver, 2))
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert json.loads(second.body)["data"] == {"export_id": "exp_1"}
    failed, succeeded = sorted(
        await deliveries(client, owner, org["id"], endpoint["id"]), key=lambda r: r["attempt"]
    )
    assert (failed["is_success"], failed["status_code"], failed["error"]) == (False, 500, "answered 500")
    assert failed["response_excerpt"] == ("database down" * 5)[:64], "the excerpt is capped"
    assert failed["next_attempt_at"] is not None and failed["trigger"] == "event"
    assert (succeeded["attempt"], succeeded["trigger"], succeeded["is_success"]) == (2, "retry", True)
    state = (
        await client.get(f"/api/orgs/{org['id']}/webhooks/{endpoint['id']}", headers=owner.headers)
    ).json()
    assert state["consecutive_failures"] == 0 and state["last_success_at"] is not None


async def test_sustained_failure_disables_the_endpoint_and_tells_the_admins(
    receiver: Receiver, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    receiver.default = Reply(status=503, body=b"maintenance")
    runtime = runtime_with(max_attempts=1, disable_after_failures=2, disable_after_hours=1.0)
    client = http_for(runtime)
    owner, org = await make_owned_org(client, "Failing")
    org_id = org["id"]
    admin = await invite_and_join(client, owner, org_id, role="admin")
    member = await invite_and_join(client, owner, org_id)
    endpoint = await add_endpoint(client, owner, org_id, receiver.url, ["export.ready"])
    path = f"/api/orgs/{org_id}/webhooks/{endpoint['id']}"

    first = await emit(runtime, org_id, "export.ready", {"n": 1})
    await emit(runtime, org_id, "export.ready", {"n": 2})
    await drain(runtime, until=lambda: _count(receiver, 2))
    state = (await client.get(path, headers=owner.headers)).json()
    # Two failures in a row, but the first is not an hour old: still enabled.
    assert (state["is_enabled"], state["consecutive_failures"]) == (True, 2)
    await sql(runtime, "UPDATE webhook_endpoints SET failing_since = now() - interval '2 hours'")
    await emit(runtime, org_id, "export.ready", {"n": 3})
    await drain(runtime, until=lambda: _count(receiver, 3))
    state = (await client.get(path, headers=owner.headers)).json()
    assert state["is_enabled"] is False and state["consecutive_failures"] == 3
    assert state["disabled_reason"].startswith("disabled automatically: 3 attempts in a row failed")
    told = await sql(
        runtime, "SELECT user_id, title, severity FROM notifications WHERE kind = 'webhook_disabled'"
    )
    assert {row.user_id for row in told} == {owner.id, admin.id}, "owners and admins, not members"
    assert member.id not in {row.user_id for row in told} and told[0].severity == "warning"
    notices = (await client.get("/api/me/notifications", headers=admin.headers)).json()["items"]
    assert notices[0]["kind"] == "webhook_disabled" and notices[0]["data"]["endpoint_id"] == endpoint["id"]

    # Disabled: new events are recorded, nothing is sent; a replay is refused until enabled.
    await emit(runtime, org_id, "export.ready", {"n": 4})
    await drain(runtime)
    assert len(receiver.received) == 3
    replay = f"{path}/messages/{first}/replay"
    refused = await client.post(replay, headers=owner.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "endpoint_disabled"

    # Fixed and enabled again: a replay sends the old message again, with its webhook-id.
    receiver.default = Reply(status=204, body=b"")
    enabled = await client.patch(path, headers=owner.headers, json={"is_enabled": True})
    assert enabled.status_code == 200 and enabled.json()["consecutive_failures"] == 0
    replayed = await client.post(replay, headers=owner.headers)
    assert replayed.status_code == 202, replayed.text
    await drain(runtime, until=lambda: _count(receiver, 4))
    assert receiver.received[3].headers["webhook-id"] == f"msg_{first.hex}"
    assert json.loads(receiver.received[3].body)["data"] == {"n": 1}
    log = await deliveries(client, owner, org_id, endpoint["id"])
    assert (log[0]["trigger"], log[0]["is_success"], log[0]["status_code"]) == ("replay", True, 204)
    assert [row["is_success"] for row in log[1:]] == [False, False, False]


async def test_a_rolled_back_change_sends_nothing(
    receiver: Receiver, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    runtime = runtime_with()
    client = http_for(runtime)
    owner, org = await make_owned_org(client, "Undone")
    await add_endpoint(client, owner, org["id"], receiver.url)
    with pytest.raises(RuntimeError, match="the change failed"):
        async with runtime.db.session(SERVICE) as session:
            assert await webhooks.emit(session, uuid.UUID(org["id"]), "export.ready", {"n": 1}) is not None
            raise RuntimeError("the change failed after emitting")
    assert await sql(runtime, "SELECT id FROM webhook_messages") == []
    assert await sql(runtime, "SELECT id FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver'") == []
    # A refused request (the last owner cannot leave) emits no member.removed either.
    left = await client.post(f"/api/orgs/{org['id']}/leave", headers=owner.headers)
    assert left.status_code == 409, left.text
    await drain(runtime)
    assert receiver.received == [] and await sql(runtime, "SELECT id FROM webhook_messages") == []


async def test_an_attempt_left_by_a_dead_worker_runs_again(
    receiver: Receiver, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    runtime = runtime_with()
    client = http_for(runtime)
    owner, org = await make_owned_org(client, "Crashed")
    await add_endpoint(client, owner, org["id"], receiver.url)
    message_id = await emit(runtime, org["id"], "export.ready", {"n": 1})
    # A worker took the job and died (its row pruned, so the job has no worker any more).
    taken = await sql(
        runtime,
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL "
        "WHERE task_name = 'webhooks.deliver' RETURNING id",
    )
    assert len(taken) == 1
    with jobs.replace_connector(connector_for(runtime.extras["app_url"])) as bound:
        async with bound.open_async():
            assert await delivery.recover_stalled(bound.job_manager) == 1
            assert await delivery.recover_stalled(bound.job_manager) == 0
    await drain(runtime, until=lambda: _count(receiver, 1))
    assert receiver.received[0].headers["webhook-id"] == f"msg_{message_id.hex}"
