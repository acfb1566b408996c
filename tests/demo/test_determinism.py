"""Same seed and options: byte-identical tables, whatever the number of worker processes; another
seed: other data; the requested number of activity events, exactly."""

from __future__ import annotations

import psycopg

from saaskit.demo.activity import activity_blocks
from saaskit.demo.billing import build_billing
from saaskit.demo.devices import build_devices
from saaskit.demo.generate import TABLES, build_funnel, write_demo
from saaskit.demo.ledger import DEMO_PLANS, Plan
from saaskit.demo.people import build_people
from saaskit.demo.plan import build_shared
from saaskit.demo.progress import QuietReporter
from saaskit.demo.tenancy import build_tenancy
from saaskit.demo.usage import plan_usage
from saaskit.kit.db import libpq_url
from tests.conftest import DbUnderTest
from tests.demo.conftest import EVENTS, BuiltDemo, cloned_database, demo_config

ORDER = {"user_heartbeats": "user_id", "stats_counters": "counter, dimension"}


# The funnel's definition is the demo's; when its progress was last computed (the nightly job,
# run by build_demo after the load) is the wall clock's.
PROJECTION = {
    "conversion_funnels": "(t.id, t.name, t.description, t.steps, t.conversion_window_days, t.order_mode, "
    "t.created_at)::text",
    # The demo's pending deletion requests are made after the load, at the moment it is built
    # (demo/privacy.py, so the Privacy page's dates are live ones), and the credit ledgers'
    # histories after it move balances (demo/credits.py, each balance its ledger's sum, checked by
    # tests/demo/test_credits.py): not part of the load.
    "users": "(to_jsonb(t) - 'data_deletion_requested_at' - 'updated_at' - 'credits_cents')::text",
    "organizations": "(to_jsonb(t) - 'updated_at' - 'credits_cents')::text",
}


def checksums(url: str) -> dict[str, str]:
    """md5 of every table the demo writes, rows in key order (the rollups are roll_range's own
    business, tested as such in tests/insights)."""
    found = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for table in (*TABLES, "stats_counters"):
            order = ORDER.get(table, "id")
            value = PROJECTION.get(table, "t::text")
            row = conn.execute(
                f"SELECT md5(coalesce(string_agg({value}, ',' ORDER BY {order}), '')) FROM {table} t"
            )
            found[table] = str(row.fetchone()[0])  # type: ignore[index]
    return found


def test_same_seed_gives_identical_tables_with_one_or_two_processes(
    demo: BuiltDemo, pg_server: str, migrated_db: DbUnderTest
) -> None:
    assert demo.config.jobs == 1
    with cloned_database(pg_server, migrated_db) as db:
        write_demo(db.owner_url, demo_config(jobs=2), QuietReporter())  # the load alone, in 2 processes
        first, second = checksums(demo.db.owner_url), checksums(db.owner_url)
    assert first.keys() == second.keys()
    assert {t: (first[t], second[t]) for t in first if first[t] != second[t]} == {}
    empty = [t for t, digest in first.items() if digest == "d41d8cd98f00b204e9800998ecf8427e"]  # md5('')
    assert empty == []  # every table got rows


def _plans() -> list[Plan]:
    import uuid

    return [
        Plan(uuid.UUID(int=i + 1), name, tier, interval, price, trial, dashboards, f"price_{i}")
        for i, (name, tier, interval, price, trial, dashboards) in enumerate(DEMO_PLANS)
    ]


def _fingerprint(seed: int) -> tuple[bytes, bytes]:
    config = demo_config(seed=seed)
    people = build_people(config)
    tenancy = build_tenancy(config, people)
    billing = build_billing(config, people, tenancy, _plans())
    devices = build_devices(config, people, billing)
    shared = build_shared(
        config,
        people,
        tenancy,
        devices,
        plan_usage(config, devices),
        build_funnel(config, people, devices, billing),
    )
    day = shared.days - 2
    activity = b"".join(block for block, _ in activity_blocks(shared, [day]))
    return people.ids, activity


def test_another_seed_gives_other_data() -> None:
    ids_a, activity_a = _fingerprint(5)
    ids_b, activity_b = _fingerprint(6)
    assert ids_a != ids_b and activity_a != activity_b
    assert _fingerprint(5) == (ids_a, activity_a)  # and the same seed, the same bytes


def test_activity_events_are_exactly_the_requested_number(demo: BuiltDemo) -> None:
    with psycopg.connect(libpq_url(demo.db.owner_url)) as conn:
        count, top, first = conn.execute("SELECT count(*), max(id), min(id) FROM activity_events").fetchone()  # type: ignore[misc]
        # Ids 1..N in time order; new rows continue after them.
        inversions = conn.execute(
            "SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back "
            "FROM activity_events) x WHERE back"
        ).fetchone()
        following = conn.execute("SELECT nextval(pg_get_serial_sequence('activity_events', 'id'))").fetchone()
        conn.rollback()
    assert (count, first, top) == (EVENTS, 1, EVENTS)
    assert inversions == (0,)
    assert following == (EVENTS + 1,)
