"""The demo's flags, persons and experiment agree with the algorithms that serve them: every
assignment is GrowthBook's decision for that user, every ``$feature_flag_called`` response is
what the flags' evaluation answers that person, assignments are of members, and the results
(``experiments.service.experiment_results``, gbstats) find the effect the demo planted."""

from __future__ import annotations

from collections import Counter

from saaskit.config import Settings
from saaskit.demo.experiments import CONVERSION_EVENT, EXPERIMENT_KEY
from saaskit.experiments import bucketing, service
from saaskit.experiments.models import Experiment
from saaskit.flags.evaluation import evaluate
from saaskit.kit.db import SERVICE
from tests.demo.conftest import BuiltDemo, app_runtime
from tests.demo.test_consistency import one, rows


def test_assignments_are_growthbooks_decisions_for_members(demo: BuiltDemo) -> None:
    (experiment_id, organization_id, variants, seed, traffic, status, started) = rows(
        demo,
        "SELECT id, organization_id, variants, seed, traffic_percentage, status, start_date FROM experiments "
        "WHERE key = %s",
        EXPERIMENT_KEY,
    )[0]
    assert status == "running"
    experiment = Experiment(
        key=EXPERIMENT_KEY, name="x", variants=variants, seed=seed, traffic_percentage=traffic, targeting={}
    )
    rule = service.growthbook_rule(experiment)
    assigned = rows(
        demo,
        "SELECT a.user_id, a.variant_name, a.variant_index, a.bucket, a.assigned_at, m.joined_at, m.is_active "
        "FROM experiment_assignments a LEFT JOIN organization_members m "
        "ON m.organization_id = a.organization_id AND m.user_id = a.user_id WHERE a.experiment_id = %s",
        experiment_id,
    )
    assert len(assigned) >= 30
    for user_id, name, index, bucket, at, joined, active in assigned:
        decided = bucketing.run(rule, {"id": str(user_id)})
        assert decided.in_experiment and decided.variation == index and decided.bucket == bucket
        assert variants[index]["key"] == name
        assert active is True and at >= joined and at >= started
    split = Counter(name for _, name, *_ in assigned)
    assert set(split) == {"control", "checklist"}
    # Every conversion comes after its user's assignment, in the experiment's organization.
    early = one(
        demo,
        "SELECT count(*) FROM events e LEFT JOIN experiment_assignments a "
        "ON a.user_id = e.user_id AND a.experiment_id = %s "
        "WHERE e.event_name = %s AND (a.id IS NULL OR e.timestamp < a.assigned_at OR e.organization_id <> %s)",
        experiment_id,
        CONVERSION_EVENT,
        organization_id,
    )
    assert early == 0


def test_flag_calls_are_what_evaluation_answers_each_person(demo: BuiltDemo) -> None:
    flags = {
        key: {"key": key, "active": active, "filters": filters}
        for key, active, filters in rows(demo, "SELECT key, active, filters FROM feature_flags")
    }
    assert len(flags) == 2
    calls = rows(
        demo,
        "SELECT e.properties ->> '$feature_flag', e.properties -> '$feature_flag_response', e.distinct_id, "
        "p.properties FROM events e "
        "JOIN person_distinct_ids d ON d.organization_id = e.organization_id AND d.distinct_id = e.distinct_id "
        "JOIN persons p ON p.id = d.person_id WHERE e.event_name = '$feature_flag_called'",
    )
    total = one(demo, "SELECT count(*) FROM events WHERE event_name = '$feature_flag_called'")
    assert len(calls) == total >= 50  # every call comes from a known person
    for key, response, distinct_id, properties in calls:
        assert evaluate(flags[key], distinct_id, properties).value == response
    # The rollout shows: owners and admins always get the editor, about 30% of the others.
    editor = [(props["role"], response) for key, response, _, props in calls if key == "new-dashboard-editor"]
    assert all(on for role, on in editor if role in ("owner", "admin"))
    others = [on for role, on in editor if role not in ("owner", "admin")]
    assert 0.1 < sum(others) / len(others) < 0.5
    # One person per distinct id, which is a member's user id.
    strays = one(
        demo,
        "SELECT count(*) FROM person_distinct_ids d LEFT JOIN organization_members m "
        "ON m.organization_id = d.organization_id AND m.user_id::text = d.distinct_id WHERE m.id IS NULL",
    )
    assert strays == 0
    assert one(demo, "SELECT count(*) FROM persons") == one(demo, "SELECT count(*) FROM person_distinct_ids")


async def test_results_find_the_planted_effect(demo: BuiltDemo, settings: Settings) -> None:
    experiment_id, organization_id = rows(
        demo, "SELECT id, organization_id FROM experiments WHERE key = %s", EXPERIMENT_KEY
    )[0]
    async with app_runtime(demo.db, settings) as runtime, runtime.db.session(SERVICE) as session:
        results = await service.experiment_results(session, organization_id, experiment_id, None)
    control, checklist = results.variants
    assert control.exposures + checklist.exposures == one(
        demo, "SELECT count(*) FROM experiment_assignments WHERE experiment_id = %s", experiment_id
    )
    assert control.conversion_rate is not None and checklist.conversion_rate is not None
    assert checklist.conversion_rate > control.conversion_rate
    assert checklist.uplift is not None and checklist.uplift > 0
    assert checklist.chance_to_beat_control is not None and checklist.chance_to_beat_control > 0.9
    assert not results.srm_mismatch


def test_the_big_customer_never_adds_a_second_membership() -> None:
    """Users joining the experiment's organization have no row there yet, active or not (the
    unique (organization, user) key), whatever the seed and size."""
    from collections import Counter
    from datetime import UTC, datetime

    from saaskit.demo.config import DemoConfig, resolve_now
    from saaskit.demo.experiments import build_flags
    from saaskit.demo.people import build_people
    from saaskit.demo.tenancy import build_tenancy

    now = resolve_now(None, datetime.now(UTC))
    for users, seed in ((100, 1), (600, 3), (2000, 1), (2000, 4)):
        config = DemoConfig(users=users, days=90, seed=seed, now=now, activity_events=users * 45, jobs=1)
        people = build_people(config)
        tenancy = build_tenancy(config, people)
        added = build_flags(config, people, tenancy).members
        pairs = Counter((row[1], row[2]) for row in tenancy.rows.members + added)
        assert added and max(pairs.values()) == 1, (users, seed)
