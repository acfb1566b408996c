"""Erasure end to end on committed data: the API asks, the grace period passes, the job erases,
and the proof-of-erasure scan finds the person nowhere (every table and column of the catalog)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from saaskit.app import create_app
from saaskit.jobs import run_worker
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.privacy import erasure, tasks
from saaskit.privacy.registry import ALLOWED_REMAINS
from tests.conftest import DbUnderTest
from tests.helpers import signup
from tests.privacy.subject import build, clients, needles_of, scan


async def _one(runtime: Runtime, sql: str, **params: object) -> object:
    async with runtime.db.session(SERVICE) as session:
        return (await session.execute(text(sql), params)).one()


async def test_erasure_leaves_nothing_of_the_person(
    fresh_runtime: Runtime, fresh_database: DbUnderTest
) -> None:
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    mine, theirs = clients(app)
    async with mine, theirs:
        subject = await build(fresh_runtime, mine, theirs)
        user = subject.user
        exported = await mine.post("/api/me/exports", headers=user.headers)
        assert exported.status_code == 202, exported.text
        needles = needles_of(fresh_database.owner_url, subject)
        before = scan(fresh_database.owner_url, needles)
        assert len({(t, c) for t, c, _ in before}) > 20, "the subject is all over the database"

        asked = await mine.post("/api/me/deletion", headers=user.headers)
        assert asked.status_code == 202, asked.text
        request = asked.json()
        assert request["status"] == "pending" and request["kind"] == "erasure"
        again = await mine.post("/api/me/deletion", headers=user.headers)
        assert again.json()["id"] == request["id"], "asking twice finds the pending request"

    # Not due yet: the sweep leaves it alone.
    assert await tasks.erase_due_now(fresh_runtime) == {"due": 0, "completed": 0}
    # The grace period passes.
    async with fresh_runtime.db.session(SERVICE) as session:
        await session.execute(
            text("UPDATE privacy_requests SET scheduled_for = now() WHERE id = :id"), {"id": request["id"]}
        )
    assert await tasks.erase_due_now(fresh_runtime) == {"due": 1, "completed": 1}

    remains = scan(fresh_database.owner_url, needles)
    unexpected = [hit for hit in remains if (hit[0], hit[1]) not in ALLOWED_REMAINS]
    assert unexpected == [], unexpected

    row = await _one(
        fresh_runtime,
        "SELECT status, user_id, identifiers, progress_percent, subject_hash FROM privacy_requests WHERE id = :id",
        id=request["id"],
    )
    assert (row.status, row.user_id, row.identifiers, row.progress_percent) == ("completed", None, None, 100)
    # The invoice stays for the law, without the person.
    invoice = await _one(
        fresh_runtime, "SELECT user_id, total_cents FROM invoices WHERE id = :id", id=subject.invoice_id
    )
    assert (invoice.user_id, invoice.total_cents) == (None, 1900)
    payments = await _one(
        fresh_runtime,
        "SELECT count(*) AS n FROM payment_transactions WHERE invoice_id = :id",
        id=subject.invoice_id,
    )
    assert payments.n == 1
    # Organizations: the shared one passed to its admin, the lone one was closed.
    shared = await _one(
        fresh_runtime,
        "SELECT role FROM organization_members WHERE organization_id = :o AND user_id = :u",
        o=subject.shared_org,
        u=subject.other.id,
    )
    assert shared.role == "owner"
    alone = await _one(
        fresh_runtime,
        "SELECT deleted_at IS NOT NULL AS closed, name FROM organizations WHERE id = :o",
        o=subject.alone_org,
    )
    assert alone.closed and alone.name == "Erased organization"
    # The audit log keeps the acts, under a pseudonym.
    acts = await _one(
        fresh_runtime,
        "SELECT count(*) AS n FROM activities WHERE action LIKE 'privacy.erasure_%' AND entity_id IS NOT NULL",
    )
    assert acts.n >= 2

    # Idempotent: running it again changes nothing and fails on nothing.
    assert await erasure.run(fresh_runtime, request["id"]) == "completed"
    assert scan(fresh_database.owner_url, needles) == remains


async def test_a_crash_midway_is_finished_by_the_next_run(
    fresh_runtime: Runtime, fresh_database: DbUnderTest
) -> None:
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    mine, theirs = clients(app)
    async with mine, theirs:
        subject = await build(fresh_runtime, mine, theirs)
        needles = needles_of(fresh_database.owner_url, subject)
        asked = await mine.post("/api/me/deletion", headers=subject.user.headers)
    request_id = asked.json()["id"]
    async with fresh_runtime.db.session(SERVICE) as session:
        await session.execute(
            text("UPDATE privacy_requests SET scheduled_for = now() WHERE id = :id"), {"id": request_id}
        )

    assert await erasure.run(fresh_runtime, request_id, stop_after=12) == "running"
    midway = await _one(
        fresh_runtime,
        "SELECT status, cardinality(steps_done) AS done, progress_percent FROM privacy_requests WHERE id = :id",
        id=request_id,
    )
    assert (midway.status, midway.done) == ("running", 12)
    assert 0 < midway.progress_percent < 100
    still = await _one(fresh_runtime, "SELECT count(*) AS n FROM users WHERE id = :id", id=subject.user.id)
    assert still.n == 1, "the account row goes last"
    # The rows holding the e-mail are gone already, yet the next run still knows it (identifiers).
    assert await tasks.erase_due_now(fresh_runtime) == {"due": 1, "completed": 1}
    assert scan(fresh_database.owner_url, needles) == []


async def test_an_admin_erases_a_banned_user_through_the_worker(
    fresh_runtime: Runtime, fresh_database: DbUnderTest
) -> None:
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    mine, theirs = clients(app)
    async with mine, theirs:
        subject = await build(fresh_runtime, mine, theirs)
        needles = needles_of(fresh_database.owner_url, subject)
        admin = await theirs.post(
            "/api/auth/signup", json={"email": "admin@ops.example", "password": "correct horse battery"}
        )
        assert admin.status_code == 201, admin.text
        async with fresh_runtime.db.session(SERVICE) as session:
            await session.execute(text("UPDATE users SET role = 'admin' WHERE email = 'admin@ops.example'"))
        headers = {"Authorization": f"Bearer {admin.json()['token']}"}
        banned = await theirs.post(
            f"/api/admin/users/{subject.user.id}/status", json={"status": "banned"}, headers=headers
        )
        assert banned.status_code == 200, banned.text
        asked = await theirs.post(
            f"/api/admin/users/{subject.user.id}/deletion", json={"reason": "banned abuser"}, headers=headers
        )
        assert asked.status_code == 202, asked.text
        assert asked.json()["by_admin"] is True
    await asyncio.wait_for(
        run_worker(fresh_runtime, fresh_runtime.extras["app_url"], concurrency=1, wait=False), timeout=60
    )
    row = await _one(
        fresh_runtime, "SELECT status FROM privacy_requests WHERE id = :id", id=asked.json()["id"]
    )
    assert row.status == "completed"
    assert scan(fresh_database.owner_url, needles) == []


async def test_a_cancel_racing_the_erasure_start_is_refused(fresh_runtime: Runtime) -> None:
    """The job locks the request as it starts: a cancel arriving then waits, sees "running", 409."""
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    mine, theirs = clients(app)
    async with mine, theirs:
        user = await signup(mine)
        request_id = (await mine.post("/api/me/deletion", headers=user.headers)).json()["id"]
        async with fresh_runtime.db.session(SERVICE) as job:  # what erasure.run's first step does
            await job.execute(erasure.REQUEST, {"id": request_id})
            cancel = asyncio.create_task(mine.delete("/api/me/deletion", headers=user.headers))
            await asyncio.sleep(0.5)
            assert not cancel.done(), "the cancel waits for the job's lock"
            await job.execute(
                text("UPDATE privacy_requests SET status = 'running' WHERE id = :id"), {"id": request_id}
            )
        answer = await asyncio.wait_for(cancel, timeout=10)
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "erasure_running"
