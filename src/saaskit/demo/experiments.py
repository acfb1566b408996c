"""Feature flags, persons and a running experiment, so the Flags, Experiments and Persons admin
pages open with figures.

Everything lives in the organization with the most active members. The demo's tenants are small
(a geometric number of members, mean 6, at most 60), too small for an experiment, so it becomes a
big customer: up to 400 users who already belong to another organization join it too (their
primary organization, to which their product events belong, stays the first one).

- **Persons**: one per active member, whose distinct id is the user's id as text (what the
  product events already use), with properties (e-mail, name, role, country) as ``$set`` would
  have left them.
- **Flags**: ``new-dashboard-editor`` (on for owners and admins, 30% of everyone else, a payload)
  and ``pricing-page-layout`` (three variants); each person sent 1-3 ``$feature_flag_called``
  events whose ``$feature_flag_response`` is exactly what ``flags.evaluation`` answers them, so
  the observed share on the flag's page is the rollout's.
- **Experiment** ``onboarding-checklist``, running since 21 days before the end (or the span's
  start): each member still around once it started is assigned with GrowthBook's algorithm
  (``experiments.bucketing.run`` on ``experiments.service.growthbook_rule``, hash attribute the
  user's uuid), so the recorded variant is the one the API or a GrowthBook SDK gives; a member
  converts (an ``onboarding_completed`` event after the assignment) with probability 15% in the
  control and 55% with the checklist: a real effect, which ``experiments.results`` measures
  (within about half a day: a conversion that would come after the end is not written).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saaskit.demo.config import DAY_US, MINUTE_US, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.people import COUNTRIES, People
from saaskit.demo.rand import new_uuid, rng_for
from saaskit.demo.tenancy import MEMBER_COLUMNS, Tenancy
from saaskit.experiments import bucketing
from saaskit.experiments import models as experiment_models
from saaskit.experiments.service import HASH_ATTRIBUTE, growthbook_rule
from saaskit.flags import models as flag_models
from saaskit.flags.evaluation import evaluate
from saaskit.kit.columns import copy_columns
from saaskit.tracking import models as tracking_models

EXPERIMENT_KEY = "onboarding-checklist"
CONVERSION_EVENT = "onboarding_completed"
RATES = {"control": 0.15, "checklist": 0.55}  # the real effect the results page should find
EXPERIMENT_DAYS = 21
BIG_CUSTOMER_EXTRA = 400  # members added to the organization (at most), see _big_customer
FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "new-dashboard-editor",
        "The new dashboard editor: owners and admins first, then 30% of everyone",
        {
            "groups": [
                {
                    "properties": [
                        {"key": "role", "operator": "exact", "value": ["owner", "admin"], "type": "person"}
                    ],
                    "rollout_percentage": 100,
                },
                {"properties": [], "rollout_percentage": 30},
            ],
            "payloads": {"true": json.dumps({"editor": "v2"})},
        },
    ),
    (
        "pricing-page-layout",
        "Three layouts of the pricing page",
        {
            "groups": [{"properties": [], "rollout_percentage": 100}],
            "multivariate": {
                "variants": [
                    {"key": "control", "rollout_percentage": 34},
                    {"key": "compact", "rollout_percentage": 33},
                    {"key": "wide", "rollout_percentage": 33},
                ]
            },
        },
    ),
)

FLAG_COLUMNS = copy_columns(
    flag_models.FeatureFlag,
    ("id", "organization_id", "key", "name", "active", "filters", "created_by", "created_at", "updated_at"),
)
PERSON_COLUMNS = copy_columns(
    flag_models.Person, ("id", "organization_id", "properties", "created_at", "updated_at")
)
DISTINCT_ID_COLUMNS = copy_columns(
    flag_models.PersonDistinctId, ("id", "organization_id", "distinct_id", "person_id", "created_at")
)
EXPERIMENT_COLUMNS = copy_columns(
    experiment_models.Experiment,
    (
        "id",
        "organization_id",
        "key",
        "name",
        "description",
        "hypothesis",
        "variants",
        "status",
        "start_date",
        "seed",
        "traffic_percentage",
        "targeting",
        "primary_metric",
        "secondary_metrics",
        "created_by",
        "created_at",
        "updated_at",
    ),
)
ASSIGNMENT_COLUMNS = copy_columns(
    experiment_models.ExperimentAssignment,
    (
        "id",
        "organization_id",
        "experiment_id",
        "user_id",
        "variant_name",
        "variant_index",
        "bucket",
        "assigned_at",
    ),
)
EVENT_COLUMNS = copy_columns(
    tracking_models.Event,
    (
        "id",
        "timestamp",
        "organization_id",
        "user_id",
        "distinct_id",
        "event_name",
        "properties",
        "country_code",
        "created_at",
    ),
)


@dataclass
class FlagData:
    """The rows, and what they should add up to (the consistency tests compare with the tables)."""

    organization: uuid.UUID | None = None
    members: list[Row] = field(default_factory=list)
    flags: list[Row] = field(default_factory=list)
    persons: list[Row] = field(default_factory=list)
    distinct_ids: list[Row] = field(default_factory=list)
    experiments: list[Row] = field(default_factory=list)
    assignments: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)

    def tables(self) -> list[TableData]:
        return [
            TableData("organization_members", MEMBER_COLUMNS, self.members),
            TableData("feature_flags", FLAG_COLUMNS, self.flags),
            TableData("persons", PERSON_COLUMNS, self.persons),
            TableData("person_distinct_ids", DISTINCT_ID_COLUMNS, self.distinct_ids),
            TableData("experiments", EXPERIMENT_COLUMNS, self.experiments),
            TableData("experiment_assignments", ASSIGNMENT_COLUMNS, self.assignments),
            TableData("events", EVENT_COLUMNS, sorted(self.events, key=lambda row: (row[1], row[0]))),
        ]


def _members(tenancy: Tenancy, people: People) -> tuple[int, dict[int, tuple[str, int]]]:
    """The organization with the most active members, and each member's (role, joined at)."""
    best = max(range(tenancy.count), key=lambda k: (len(tenancy.members[k]), -k))
    org_id = tenancy.uuid(best)
    index_of = {people.uuid(i): i for i in tenancy.members[best]}
    found: dict[int, tuple[str, int]] = {}
    for row in tenancy.rows.members:
        user = index_of.get(row[2]) if row[1] == org_id else None  # type: ignore[call-overload]
        if user is not None and row[4]:
            joined = row[7]
            assert isinstance(joined, datetime)
            found[user] = (str(row[3]), int(joined.timestamp() * 1_000_000))
    return best, found


def _big_customer(
    config: DemoConfig,
    rng: Any,
    people: People,
    tenancy: Tenancy,
    best: int,
    members: dict[int, tuple[str, int]],
    data: FlagData,
) -> None:
    """More members for the organization, so its experiment has a sample worth testing: users
    who already belong to another organization (their primary one, which their product events
    are attributed to, stays that one), joining it after both existed."""
    org, inviter = tenancy.uuid(best), people.uuid(tenancy.owner[best])
    # Not anyone who has a membership row there already, active or not (one row per user).
    already = {row[2] for row in tenancy.rows.members if row[1] == org}
    candidates = [
        u
        for u in range(people.count)
        if tenancy.primary[u] >= 0
        and tenancy.primary[u] != best
        and not people.quiet(u)
        and people.uuid(u) not in already
    ]
    chosen = sorted(rng.sample(candidates, min(BIG_CUSTOMER_EXTRA, len(candidates))))
    for user in chosen:
        start = max(tenancy.created_us[best], people.created_us[user])
        joined = start + MINUTE_US + int(-math.log(1.0 - rng.random()) * 5 * DAY_US)
        if joined >= config.now_us:
            continue
        at = from_us(joined)
        data.members.append((new_uuid(rng), org, people.uuid(user), "member", True, inviter, at, at, at, at))
        members[user] = ("member", joined)


def _event(
    rng: Any, at: int, org: uuid.UUID, people: People, user: int, name: str, properties: dict[str, Any]
) -> Row:
    country = COUNTRIES[people.country[user]][0] or None
    moment = from_us(at)
    return (
        new_uuid(rng),
        moment,
        org,
        people.uuid(user),
        str(people.uuid(user)),
        name,
        properties,
        country,
        moment,
    )


def build_flags(config: DemoConfig, people: People, tenancy: Tenancy) -> FlagData:
    data = FlagData()
    if tenancy.count == 0:
        return data
    rng = rng_for(config.seed, "flags-experiments")
    best, members = _members(tenancy, people)
    org = tenancy.uuid(best)
    owner = people.uuid(tenancy.owner[best])
    data.organization = org
    now = config.now_us
    created = max(tenancy.created_us[best], config.start_us)
    _big_customer(config, rng, people, tenancy, best, members, data)
    for key, name, filters in FLAGS:
        stamp = from_us(created + int(rng.random() * DAY_US))
        data.flags.append((new_uuid(rng), org, key, name, True, filters, owner, stamp, stamp))

    # Persons, and the flags each asked for ($feature_flag_called), in member order.
    for user in sorted(members, key=lambda u: (members[u][1], u)):
        role, joined = members[user]
        properties = {
            "email": people.email(user),
            "name": people.name(user),
            "role": role,
            "country": COUNTRIES[people.country[user]][0] or "ZZ",
        }
        person = new_uuid(rng)
        seen = from_us(max(joined, people.created_us[user]))
        data.persons.append((person, org, properties, seen, seen))
        distinct_id = str(people.uuid(user))
        data.distinct_ids.append((new_uuid(rng), org, distinct_id, person, seen))
        first = max(joined, people.created_us[user], config.start_us)
        last = min(now, people.engaged_until_us[user])
        for key, _, filters in FLAGS:
            value = evaluate({"key": key, "active": True, "filters": filters}, distinct_id, properties).value
            for _ in range(1 + int(rng.random() * 3) if last > first else 0):
                at = first + int(rng.random() * (last - first))
                flag_properties = {"$feature_flag": key, "$feature_flag_response": value, "$lib": "web"}
                data.events.append(
                    _event(rng, at, org, people, user, "$feature_flag_called", flag_properties)
                )

    _experiment(config, rng, people, data, org, owner, created, members)
    return data


def _experiment(
    config: DemoConfig,
    rng: Any,
    people: People,
    data: FlagData,
    org: uuid.UUID,
    owner: uuid.UUID,
    created: int,
    members: dict[int, tuple[str, int]],
) -> None:
    now = config.now_us
    started = max(created + DAY_US, now - EXPERIMENT_DAYS * DAY_US)
    if started >= now:
        return
    experiment = experiment_models.Experiment(
        id=new_uuid(rng),
        organization_id=org,
        key=EXPERIMENT_KEY,
        name="Onboarding checklist",
        description="A checklist on the empty dashboard: add a widget, connect a calendar, share.",
        hypothesis="New members who see what to do next finish their onboarding more often.",
        variants=[
            {"key": "control", "name": "No checklist", "weight": 0.5},
            {"key": "checklist", "name": "Checklist", "weight": 0.5},
        ],
        status="running",
        seed=EXPERIMENT_KEY,
        traffic_percentage=100.0,
        targeting={},
        primary_metric={"kind": "event", "event": CONVERSION_EVENT},
        secondary_metrics=[],
    )
    rule = growthbook_rule(experiment)
    made = from_us(started - int(rng.random() * DAY_US))
    data.experiments.append(
        (
            experiment.id,
            org,
            experiment.key,
            experiment.name,
            experiment.description,
            experiment.hypothesis,
            experiment.variants,
            "running",
            from_us(started),
            experiment.seed,
            experiment.traffic_percentage,
            {},
            experiment.primary_metric,
            [],
            owner,
            made,
            from_us(started),
        )
    )
    for user in sorted(members, key=lambda u: (members[u][1], u)):
        first = max(started, members[user][1], people.created_us[user])
        if first >= now or not people.active_at(user, first):
            continue  # gone before the experiment reached them: never assigned
        result = bucketing.run(rule, {HASH_ATTRIBUTE: str(people.uuid(user))})
        if not result.in_experiment or result.bucket is None:
            continue
        variant = experiment.variants[result.variation]["key"]
        assigned = first + int(rng.random() * min(2 * DAY_US, now - first))
        data.assignments.append(
            (
                new_uuid(rng),
                org,
                experiment.id,
                people.uuid(user),
                variant,
                result.variation,
                result.bucket,
                from_us(assigned),
            )
        )
        if rng.random() < RATES[variant]:
            at = assigned + 60_000_000 + int(-math.log(1.0 - rng.random()) * DAY_US // 2)
            if at < now:
                data.events.append(
                    _event(rng, at, org, people, user, CONVERSION_EVENT, {"experiment": EXPERIMENT_KEY})
                )
