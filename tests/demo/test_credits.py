"""The demo's credit ledgers and dunning cases (demo/credits.py): balances equal their ledgers'
sums, every kind of history and dunning state is there for the pages to show."""

from __future__ import annotations

import psycopg

from saaskit.kit.db import libpq_url
from tests.demo.conftest import BuiltDemo


def test_demo_ledgers_add_up_and_dunning_states_show(demo: BuiltDemo) -> None:
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        mismatched = conn.execute(
            """
            SELECT count(*) FROM (
              SELECT u.id FROM users u LEFT JOIN credit_ledger l ON l.user_id = u.id
              GROUP BY u.id, u.credits_cents HAVING u.credits_cents <> coalesce(sum(l.amount_cents), 0)
              UNION ALL
              SELECT o.id FROM organizations o LEFT JOIN credit_ledger l ON l.organization_id = o.id
              GROUP BY o.id, o.credits_cents HAVING o.credits_cents <> coalesce(sum(l.amount_cents), 0)
            ) bad
            """
        ).fetchone()
        assert mismatched == (0,)
        kinds = {row[0] for row in conn.execute("SELECT DISTINCT kind FROM credit_ledger")}
        assert {"grant", "purchase", "spend", "expiry", "adjustment"} <= kinds
        owners = conn.execute(
            "SELECT count(DISTINCT user_id), count(DISTINCT organization_id) FROM credit_ledger"
        ).fetchone()
        assert owners is not None and owners[0] > 10 and owners[1] > 0
        states = dict(conn.execute("SELECT status, count(*) FROM dunning_cases GROUP BY status").fetchall())
        unpaid = conn.execute(
            "SELECT count(*) FROM invoices WHERE status = 'open' AND stripe_subscription_id IS NOT NULL"
        ).fetchone()
        assert "recovered" in states
        # Every unpaid renewal is followed (the small test demo may have none: the full one has).
        followed = states.get("open", 0) + states.get("action_required", 0)
        assert unpaid is not None and followed == unpaid[0]
        negative = conn.execute("SELECT count(*) FROM credit_ledger WHERE balance_after_cents < 0").fetchone()
        assert negative == (0,)
