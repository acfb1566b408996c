"""A person with data in every corner of saaskit, for the erasure and export tests; and the
proof-of-erasure scan of every table and column the catalog lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy import text

from saaskit.kit.db import SERVICE, libpq_url
from saaskit.kit.state import Runtime
from tests.factories import insert_activity_events, insert_dashboard, insert_events, make_org
from tests.helpers import SignedUp, signup

SUBJECT_IP = ("198.51.100.23", 41000)
OTHERS_IP = ("203.0.113.99", 42000)


@dataclass
class Subject:
    user: SignedUp
    first_name: str
    last_name: str
    alone_org: str  # an organization only the subject belongs to: closed
    shared_org: str  # one with another member: passes to them
    other: SignedUp  # that member
    invoice_id: uuid.UUID
    distinct_ids: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def clients(app: Any) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """One client as the subject (own address, so their IP hash is theirs alone), one for others."""
    mine = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=SUBJECT_IP), base_url="http://t")
    theirs = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=OTHERS_IP), base_url="http://t")
    return mine, theirs


async def build(runtime: Runtime, mine: httpx.AsyncClient, theirs: httpx.AsyncClient) -> Subject:
    tag = uuid.uuid4().hex[:8]
    first, last = f"Zephyrine{tag}", f"Quillfeather{tag}"
    user = await signup(
        mine,
        email=f"zq-{tag}@subject.example",
        name=f"{first} {last}",
        analytics_consent=True,
    )
    patched = await mine.patch("/api/me", json={"first_name": first, "last_name": last}, headers=user.headers)
    assert patched.status_code == 200, patched.text
    other = await signup(theirs, email=f"other-{tag}@elsewhere.example", name="Other Person")
    alone = await make_org(mine, user, name=f"Solo works {tag}")
    shared = await make_org(mine, user, name=f"Shared works {tag}")
    invited = await mine.post(
        f"/api/orgs/{shared['id']}/invitations",
        json={"email": other.email, "role": "admin"},
        headers=user.headers,
    )
    assert invited.status_code == 201, invited.text
    async with runtime.db.session(SERVICE) as session:
        # The invitation's mail carries the subject's name to the other person: scrubbed later.
        await session.execute(
            text(
                "INSERT INTO organization_members (organization_id, user_id, role, is_active, joined_at) "
                "VALUES (:org, :u, 'admin', true, now())"
            ),
            {"org": shared["id"], "u": other.id},
        )
        now = datetime.now(UTC)
        anonymous = f"anon-{tag}"
        identified = f"device-{tag}"
        await insert_events(session, [now - timedelta(hours=2)], "viewed_pricing", distinct_id=anonymous)
        await insert_events(
            session,
            [now - timedelta(hours=1), now],
            "clicked",
            user_id=user.id,
            distinct_id=identified,
            properties={"email": user.email, "plan": "pro"},
        )
        await session.execute(
            text(
                "INSERT INTO tracking_identities (organization_id, distinct_id, user_id) VALUES (:org, :d, :u)"
            ),
            {"org": alone["id"], "d": identified, "u": user.id},
        )
        person = await session.scalar(
            text(
                "INSERT INTO persons (organization_id, properties) VALUES (:org, CAST(:p AS jsonb)) RETURNING id"
            ),
            {"org": alone["id"], "p": f'{{"email": "{user.email}", "name": "{first} {last}"}}'},
        )
        await session.execute(
            text(
                "INSERT INTO person_distinct_ids (organization_id, distinct_id, person_id) "
                "VALUES (:org, :a, :p), (:org, :b, :p)"
            ),
            {"org": alone["id"], "a": anonymous, "b": identified, "p": person},
        )
        await session.execute(
            text(
                "INSERT INTO page_views (user_id, distinct_id, page_url, page_title, viewed_at) "
                "VALUES (:u, :d, 'https://app.example/settings', :title, now())"
            ),
            {"u": user.id, "d": identified, "title": f"Settings of {first} {last}"},
        )
        await insert_activity_events(session, user.id, [now - timedelta(minutes=5)], event_type="action")
        dashboard = await insert_dashboard(session, user.id, device_fingerprint_hash=f"fphash-{tag}")
        await session.execute(
            text(
                "INSERT INTO widget_analytics (user_id, dashboard_id, widget_type, event_type, timestamp) "
                "VALUES (:u, :d, 'clock', 'view', now())"
            ),
            {"u": user.id, "d": dashboard},
        )
        await session.execute(
            text(
                "INSERT INTO system_events (user_id, event_type, severity, message) "
                "VALUES (:u, 'crash', 'error', :m)"
            ),
            {"u": user.id, "m": f"crash for {user.email}"},
        )
        await session.execute(
            text(
                "INSERT INTO user_preferences (user_id, category, key, value) VALUES (:u, 'ui', 'theme', '\"dark\"')"
            ),
            {"u": user.id},
        )
        # Personal billing: an invoice the law keeps for seven years.
        invoice_id = await session.scalar(
            text(
                "INSERT INTO invoices (user_id, stripe_invoice_id, status, currency, total_cents) "
                "VALUES (:u, :s, 'paid', 'usd', 1900) RETURNING id"
            ),
            {"u": user.id, "s": f"in_{tag}"},
        )
        await session.execute(
            text(
                "INSERT INTO payment_transactions (user_id, kind, status, amount_cents, currency, invoice_id) "
                "VALUES (:u, 'subscription', 'succeeded', 1900, 'usd', :i)"
            ),
            {"u": user.id, "i": invoice_id},
        )
    assert invoice_id is not None
    return Subject(
        user=user,
        first_name=first,
        last_name=last,
        alone_org=alone["id"],
        shared_org=shared["id"],
        other=other,
        invoice_id=invoice_id,
        distinct_ids=[anonymous, identified],
    )


SCANNED_TYPES = ("text", "character varying", "json", "jsonb", "uuid", "ARRAY", "USER-DEFINED")
COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
JOIN pg_class r ON r.relname = c.table_name AND r.relnamespace = 'public'::regnamespace
WHERE c.table_schema = 'public' AND r.relkind IN ('r', 'p') AND NOT r.relispartition
  AND c.data_type = ANY(%s)
ORDER BY 1, 2
"""


def _like(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def scan(owner_url: str, needles: dict[str, str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle name) where a needle's text appears, in every table the catalog
    lists (as the owner: no row-level security hides anything)."""
    found = []
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        columns = conn.execute(COLUMNS, (list(SCANNED_TYPES),)).fetchall()
        for table, column, _ in columns:
            for name, needle in needles.items():
                hit = conn.execute(
                    f'SELECT 1 FROM "{table}" WHERE CAST("{column}" AS text) ILIKE %s LIMIT 1',
                    (_like(needle),),
                ).fetchone()
                if hit is not None:
                    found.append((table, column, name))
    return found


def needles_of(owner_url: str, subject: Subject) -> dict[str, str]:
    """The subject's id, e-mail, names, distinct ids and every hash saaskit keeps of them."""
    user = subject.user
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT signup_ip_hash, last_known_ip_hash, password_hash FROM users WHERE id = %s", (user.id,)
        ).fetchone()
        assert row is not None
        session_hashes = conn.execute(
            "SELECT DISTINCT ip_address_hash FROM user_sessions WHERE user_id = %s AND ip_address_hash IS NOT NULL",
            (user.id,),
        ).fetchall()
        fingerprints = conn.execute(
            "SELECT device_fingerprint_hash FROM dashboards WHERE user_id = %s AND device_fingerprint_hash IS NOT NULL",
            (user.id,),
        ).fetchall()
    needles = {
        "user id": str(user.id),
        "e-mail": user.email,
        "full name": subject.full_name,
        "first name": subject.first_name,
        "last name": subject.last_name,
        "password hash": row[2],
    }
    for i, distinct_id in enumerate(subject.distinct_ids):
        needles[f"distinct id {i}"] = distinct_id
    hashes = {row[0], row[1], *(h for (h,) in session_hashes), *(h for (h,) in fingerprints)} - {None}
    for i, value in enumerate(sorted(hashes)):
        needles[f"hash {i}"] = value
    assert any(k.startswith("hash") for k in needles), "the subject has IP hashes to look for"
    return needles
