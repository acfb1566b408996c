"""Hostile input to the JSON API: one list, each case answered 4xx naming the field, nothing written.

Every case below was a 500 (or a value PostgreSQL refused later) before the API refused it:

- text PostgreSQL cannot store (NUL, lone UTF-16 surrogates) and JSON it cannot take back (too
  deep, NaN) anywhere in a body, a query string, a form or a path (kit/inputs.py, at the edge);
- integers beyond the column they land in (kit/schemas.INT32_MAX and the schemas' bounds);
- times out of the supported range, or with an offset PostgreSQL refuses (kit/schemas.Timestamp
  and Day);
- time zones Python knows and PostgreSQL does not (kit/timezones.py);
- unique violations on update, found by PostgreSQL (kit/errors.py's constraint handler);
- an empty body.

The ingestion endpoints are not here: they repair such input instead (tests/tracking/
test_hostile_capture.py, test_native_api.py). Below the list: the rules that keep the list
complete (every timestamp and integer a request takes is bounded), the constraint handler on
each kind of constraint, and the admin Overview's zone picker.
"""

from __future__ import annotations

import asyncio
import re
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Any, get_args, get_origin
from zoneinfo import available_timezones

import annotated_types
import httpx
import psycopg
import pytest
from fastapi.dependencies.utils import _get_flat_body_params, get_flat_params
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy import BigInteger, Integer, SmallInteger, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.admin.pages import router as admin_pages
from saaskit.app import ROUTERS, create_app
from saaskit.kit.db import libpq_url
from saaskit.kit.errors import constraint_rules, constraint_violation_response
from saaskit.kit.inputs import MAX_DEPTH
from saaskit.kit.models import Base
from saaskit.kit.schemas import Day, Timestamp
from saaskit.kit.state import Runtime
from tests.admin.conftest import form_sign_in
from tests.conftest import DbUnderTest
from tests.factories import insert_org, make_admin, make_org
from tests.helpers import SignedUp, error_of, signup

NUL, LONE = "\\u0000", "\\ud800"  # as a JSON text writes them


@dataclass
class World:
    """What the cases act on: ids are substituted into paths, bodies and the SQL as {name}."""

    user: SignedUp
    admin: SignedUp
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: str | None = None  # raw JSON text, {placeholders} filled
    status: int = 422
    field: str | None = None
    code: str = "invalid"
    unwritten: str = "SELECT 0"  # SQL that must count 0 afterwards
    as_: str = "user"  # user, admin or nobody
    content_type: str = "application/json"

    def __str__(self) -> str:
        return self.name


CASES = [
    # -- text PostgreSQL cannot store ------------------------------------------------------------
    Case(
        "NUL in a sign-up name",
        "POST",
        "/api/auth/signup",
        '{"email": "nul@example.com", "password": "correct horse battery", "name": "a' + NUL + 'b"}',
        field="name",
        as_="nobody",
        unwritten="SELECT count(*) FROM users WHERE email = 'nul@example.com'",
    ),
    Case(
        "lone surrogate in a sign-up name",
        "POST",
        "/api/auth/signup",
        '{"email": "lone@example.com", "password": "correct horse battery", "name": "a' + LONE + '"}',
        field="name",
        as_="nobody",
        unwritten="SELECT count(*) FROM users WHERE email = 'lone@example.com'",
    ),
    Case(
        "NUL in a device name inside the sign-up",
        "POST",
        "/api/auth/signup",
        '{"email": "dev@example.com", "password": "correct horse battery", "device": {"name": "'
        + NUL
        + '"}}',
        field="device.name",
        as_="nobody",
        unwritten="SELECT count(*) FROM users WHERE email = 'dev@example.com'",
    ),
    Case(
        "NUL in a profile change",
        "PATCH",
        "/api/me",
        '{"name": "Renamed", "bio": "x' + NUL + '"}',
        field="bio",
        unwritten="SELECT count(*) FROM users WHERE id = '{user}' AND name = 'Renamed'",
    ),
    Case(
        "NUL deep in a preference",
        "PUT",
        "/api/me/preferences/ui/theme",
        '{"value": {"colors": ["dark", "a' + NUL + '"]}}',
        field="value.colors.1",
        unwritten="SELECT count(*) FROM user_preferences WHERE user_id = '{user}'",
    ),
    Case(
        "NUL in a preference's key",
        "PUT",
        "/api/me/preferences/ui/theme",
        '{"value": {"k' + NUL + '": 1}}',
        field="value.k\\u0000",
        unwritten="SELECT count(*) FROM user_preferences WHERE user_id = '{user}'",
    ),
    Case(
        "lone surrogate in a preference",
        "PUT",
        "/api/me/preferences/ui/theme",
        '{"value": "' + LONE + '"}',
        field="value",
        unwritten="SELECT count(*) FROM user_preferences WHERE user_id = '{user}'",
    ),
    Case(
        "a preference nested past the limit",
        "PUT",
        "/api/me/preferences/ui/theme",
        '{"value": ' + "[" * 300 + "]" * 300 + "}",
        field="value",
        unwritten="SELECT count(*) FROM user_preferences WHERE user_id = '{user}'",
    ),
    Case(
        "NaN in a preference (Python's decoder reads it; JSON cannot write it back)",
        "PUT",
        "/api/me/preferences/ui/theme",
        '{"value": {"ratio": NaN}}',
        field="value.ratio",
        unwritten="SELECT count(*) FROM user_preferences WHERE user_id = '{user}'",
    ),
    Case(
        "NUL in an organization's settings",
        "POST",
        "/api/orgs",
        '{"name": "Nul Inc", "settings": {"motto": "' + NUL + '"}}',
        field="settings.motto",
        unwritten="SELECT count(*) FROM organizations WHERE name = 'Nul Inc'",
    ),
    Case(
        "NUL in a funnel step",
        "POST",
        "/api/insights/funnels?organization_id={org}",
        '{"name": "nul", "steps": [{"name": "a", "event": "a"}, {"name": "b", "event": "b' + NUL + '"}]}',
        field="steps.1.event",
        unwritten="SELECT count(*) FROM conversion_funnels WHERE name = 'nul'",
    ),
    Case(
        "NUL in a query parameter",
        "GET",
        "/api/admin/users?search=%00",
        field="search",
        as_="admin",
    ),
    Case(
        "NUL in an organization's member search",
        "GET",
        "/api/orgs/{org}/members?search=a%00b",
        field="search",
    ),
    Case(
        "NUL in a path",
        "DELETE",
        "/api/admin/beta-whitelist/a%00b@example.com",
        as_="admin",
    ),
    Case(
        "NUL in a form",
        "POST",
        "/api/mail/unsubscribe?token=aaaaaaaaaaaa",
        "token=aaaa%00aaaaaaaa",
        field="token",
        as_="nobody",
        content_type="application/x-www-form-urlencoded",
    ),
    # -- integers beyond their column -------------------------------------------------------------
    Case(
        "unit_price_cents beyond an integer column",
        "POST",
        "/api/billing/usage",
        '{"metric_name": "api_calls", "idempotency_key": "k1", "unit_price_cents": 2147483648}',
        field="unit_price_cents",
        unwritten="SELECT count(*) FROM usage_records WHERE user_id = '{user}'",
    ),
    Case(
        "a coupon's max_redemptions beyond an integer column",
        "POST",
        "/api/admin/billing/coupons",
        '{"code": "HUGE", "discount_type": "percent", "discount_value": 10, "max_redemptions": 2147483648}',
        field="max_redemptions",
        as_="admin",
        unwritten="SELECT count(*) FROM coupons WHERE code = 'HUGE'",
    ),
    Case(
        "a plan's max_dashboards beyond users.max_dashboards",
        "POST",
        "/api/admin/billing/plans",
        '{"name": "Huge", "tier": "huge", "billing_interval": "month", "price_cents": 100,'
        ' "limits": {"max_dashboards": 4294967296}}',
        field="limits",
        as_="admin",
        unwritten="SELECT count(*) FROM subscription_plans WHERE name = 'Huge'",
    ),
    # -- times --------------------------------------------------------------------------------------
    Case(
        "Unix milliseconds past year 9999",
        "GET",
        "/api/admin/errors?since=9999999999999999",
        field="since",
        as_="admin",
    ),
    Case(
        "a UTC offset PostgreSQL refuses",
        "GET",
        "/api/admin/system-events?until=2026-01-01T00:00:00%2B20:00",
        field="until",
        as_="admin",
    ),
    Case(
        "a time that is before year 1 in UTC",
        "GET",
        "/api/orgs/{org}/activities?since=0001-01-01T00:00:00%2B01:00",
        field="since",
    ),
    Case(
        "a retention query in year 9999",
        "GET",
        "/api/insights/retention?organization_id={org}&start_event=a&return_event=b&period=month"
        "&from=9999-01-01&to=9999-12-31",
        field="from",
    ),
    Case(
        "daily metrics up to year 9999",
        "GET",
        "/api/insights/daily-metrics?organization_id={org}&from=2026-01-01&to=9999-12-31",
        field="to",
    ),
    Case(
        "a role assignment expiring at +20:00",
        "POST",
        "/api/orgs/{org}/role-assignments",
        '{"user_id": "{user}", "role_id": "{role}", "expires_at": "2030-01-01T00:00:00+20:00"}',
        field="expires_at",
        unwritten="SELECT count(*) FROM user_roles WHERE organization_id = '{org}'",
    ),
    Case(
        "usage recorded in year 9999 at -05:00",
        "POST",
        "/api/billing/usage",
        '{"metric_name": "api_calls", "idempotency_key": "k2", "recorded_at": "9999-12-31T23:00:00-05:00"}',
        field="recorded_at",
        unwritten="SELECT count(*) FROM usage_records WHERE user_id = '{user}'",
    ),
    # -- time zones ---------------------------------------------------------------------------------
    # {zone}: a zone Python lists and PostgreSQL refuses (localtime, with the embedded server).
    Case("tz=localtime on the statistics", "GET", "/api/admin/stats?tz={zone}", field="tz", as_="admin"),
    Case(
        "tz=localtime on a funnel's results",
        "GET",
        "/api/insights/funnels/{funnel}/results?organization_id={org}&from=2026-01-01&to=2026-01-02&tz={zone}",
        field="tz",
    ),
    Case(
        "a sign-up in time zone localtime",
        "POST",
        "/api/auth/signup",
        '{"email": "tz@example.com", "password": "correct horse battery", "timezone": "{zone}"}',
        field="timezone",
        as_="nobody",
        unwritten="SELECT count(*) FROM users WHERE email = 'tz@example.com'",
    ),
    Case(
        "a profile in time zone localtime",
        "PATCH",
        "/api/me",
        '{"timezone": "{zone}"}',
        field="timezone",
        unwritten="SELECT count(*) FROM users WHERE id = '{user}' AND timezone IS NOT NULL",
    ),
    # -- unique violations on update ----------------------------------------------------------------
    Case(
        "an organization's slug changed to one taken by an organization the caller cannot see",
        "PATCH",
        "/api/orgs/{org}",
        '{"name": "Renamed", "slug": "{hidden_slug}"}',
        status=409,
        field="slug",
        code="slug_taken",
        unwritten="SELECT count(*) FROM organizations WHERE id = '{org}' AND (name = 'Renamed' OR slug = '{hidden_slug}')"
        " UNION ALL SELECT count(*) FROM activities WHERE organization_id = '{org}' AND action = 'updated'",
    ),
    Case(
        "a plan's name changed to another plan's",
        "PATCH",
        "/api/admin/billing/plans/{plan_b}",
        '{"name": "Plan A", "price_cents": 4242}',
        status=409,
        field="name",
        code="plan_exists",
        as_="admin",
        unwritten="SELECT count(*) FROM subscription_plans WHERE price_cents = 4242",
    ),
    # -- empty bodies ---------------------------------------------------------------------------------
    Case(
        "an empty heartbeat",
        "POST",
        "/api/heartbeat",
        "",
        field="body",
        unwritten="SELECT count(*) FROM user_heartbeats WHERE user_id = '{user}'",
    ),
    Case(
        "a heartbeat that is not an object",
        "POST",
        "/api/heartbeat",
        "[]",
        field="body",
        unwritten="SELECT count(*) FROM user_heartbeats WHERE user_id = '{user}'",
    ),
]


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    admin = await make_admin(client, session)
    user = await signup(client)
    org = await make_org(client, user, "Mine")
    hidden = await insert_org(session, "Someone else's", slug=f"hidden-{uuid.uuid4().hex[:8]}")
    role = await client.post(
        f"/api/orgs/{org['id']}/roles", headers=user.headers, json={"name": "auditor", "permissions": []}
    )
    assert role.status_code == 201, role.text
    funnel = await client.post(
        f"/api/insights/funnels?organization_id={org['id']}",
        headers=user.headers,
        json={"name": "f", "steps": [{"name": "a", "event": "a"}]},
    )
    assert funnel.status_code == 201, funnel.text
    plans = []
    for name in ("Plan A", "Plan B"):
        plan = await client.post(
            "/api/admin/billing/plans",
            headers=admin.headers,
            json={"name": name, "tier": "pro", "billing_interval": "month", "price_cents": 1000},
        )
        assert plan.status_code == 201, plan.text
        plans.append(plan.json()["id"])
    hidden_slug = await session.execute(text("SELECT slug FROM organizations WHERE id = :id"), {"id": hidden})
    values = {
        "user": str(user.id),
        "org": org["id"],
        "role": role.json()["id"],
        "funnel": funnel.json()["id"],
        "plan_b": plans[1],
        "hidden_slug": hidden_slug.scalar_one(),
        "zone": await python_only_zone(session),
    }
    return World(user=user, admin=admin, values=values)


async def python_only_zone(session: AsyncSession) -> str:
    """A zone Python's zoneinfo lists and the server under test refuses: ``localtime`` with the
    embedded PostgreSQL (its own zone files); a server built on the system's zone files (Debian's)
    takes it, and then a name neither knows stands in."""
    known = set((await session.scalars(text("SELECT name FROM pg_timezone_names"))).all())
    refused = sorted(available_timezones() - known)
    return "localtime" if "localtime" in refused else (refused[0] if refused else "Mars/Base")


def _fill(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_hostile_input_is_refused_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, world: World, case: Case
) -> None:
    headers = {"Content-Type": case.content_type}
    if case.as_ != "nobody":
        headers |= (world.admin if case.as_ == "admin" else world.user).headers
    content = None if case.body is None else _fill(case.body, world.values).encode()
    response = await client.request(
        case.method, _fill(case.path, world.values), content=content, headers=headers
    )
    assert response.status_code == case.status, response.text
    error = error_of(response)
    assert error["field"] == case.field, error
    assert error["code"] == case.code, error
    if case.field is not None and case.status == 422:
        assert error["message"].startswith(f"{case.field}: "), error
    for (written,) in (await session.execute(text(_fill(case.unwritten, world.values)))).all():
        assert written == 0, f"{case.name}: something was written ({case.unwritten})"


async def test_two_plans_renamed_to_one_name_at_once(
    fresh_database: DbUnderTest, fresh_runtime: Runtime
) -> None:
    """Committed, concurrent PATCHes: both pass the service's check (neither sees the other's
    uncommitted name), the unique constraint refuses the second, and it is answered like the
    check would have answered (409 plan_exists), not 500. A few rounds make the race likely."""
    app = create_app(fresh_runtime, dispose_on_shutdown=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as live:
        admin = await signup(live)
        with psycopg.connect(libpq_url(fresh_database.owner_url), autocommit=True) as conn:
            conn.execute("UPDATE users SET role = 'admin' WHERE id = %s", (admin.id,))
        for round_ in range(5):
            ids = []
            for letter in "AB":
                plan = {
                    "name": f"{letter}{round_}",
                    "tier": "pro",
                    "billing_interval": "month",
                    "price_cents": 1,
                }
                made = await live.post("/api/admin/billing/plans", headers=admin.headers, json=plan)
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            answers = await asyncio.gather(
                *(
                    live.patch(
                        f"/api/admin/billing/plans/{i}", headers=admin.headers, json={"name": f"S{round_}"}
                    )
                    for i in ids
                )
            )
            assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
            refused = next(a for a in answers if a.status_code == 409)
            assert (error_of(refused)["code"], error_of(refused)["field"]) == ("plan_exists", "name")


async def test_the_nesting_limit_is_where_it_says(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    headers = {**user.headers, "Content-Type": "application/json"}

    def body(levels: int) -> bytes:  # the body's own object is the first level
        return b'{"value": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"

    fits = await client.put("/api/me/preferences/ui/deep", content=body(MAX_DEPTH), headers=headers)
    assert fits.status_code == 200, fits.text
    read = await client.get("/api/me/preferences", headers=user.headers)
    assert read.status_code == 200
    too_deep = await client.put("/api/me/preferences/ui/deep", content=body(MAX_DEPTH + 1), headers=headers)
    assert too_deep.status_code == 422 and error_of(too_deep)["field"] == "value"


async def test_escaped_text_that_only_looks_hostile_is_kept(client: httpx.AsyncClient) -> None:
    """A backslash before u0000, a surrogate pair (an emoji written escaped), NaN in a string."""
    user = await signup(client)
    body = b'{"value": ["\\\\u0000", "\\ud83d\\ude00", "NaN", "caf\xc3\xa9"]}'
    answer = await client.put(
        "/api/me/preferences/ui/k", content=body, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["value"] == ["\\u0000", "\U0001f600", "NaN", "café"]


async def test_zones_are_the_ones_postgresql_knows(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_admin(client, session)
    paris = await client.get("/api/admin/stats?tz=Europe/Paris", headers=admin.headers)
    assert paris.status_code == 200, paris.text
    assert (await form_sign_in(client, admin.email)).status_code == 303
    page = await client.get("/admin/overview")
    assert page.status_code == 200
    offered = set(re.findall(r"<option(?: selected)?>([^<]+)</option>", page.text))
    known = set((await session.scalars(text("SELECT name FROM pg_timezone_names"))).all())
    assert "Europe/Paris" in offered and offered == known | {"UTC"}
    zone = await python_only_zone(session)
    refused = await client.get(f"/admin/overview?tz={zone}")
    assert refused.status_code == 422


# -- the rules that keep every endpoint covered -------------------------------------------------


def _request_fields() -> Iterator[tuple[str, str, Any, tuple[Any, ...]]]:
    """(endpoint, field, type, constraints) for every scalar a request's query, path, headers
    or JSON body can carry, through nested models, lists and unions."""
    for route in _routes([*ROUTERS, admin_pages]):
        endpoint = f"{','.join(sorted(route.methods))} {route.path}"
        for param in [*get_flat_params(route.dependant), *_get_flat_body_params(route.dependant)]:
            info = param.field_info
            yield from _leaves(endpoint, param.alias, info.annotation, tuple(info.metadata), set())


def _routes(routers: list[Any]) -> Iterator[APIRoute]:
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
                yield from _routes([route.original_router])


def _leaves(
    endpoint: str, name: str, annotation: Any, constraints: tuple[Any, ...], seen: set[type]
) -> Iterator[tuple[str, str, Any, tuple[Any, ...]]]:
    constraints = tuple(
        part for c in constraints for part in (c.metadata if isinstance(c, FieldInfo) else [c])
    )
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        yield from _leaves(endpoint, name, base, (*constraints, *metadata), seen)
    elif origin in (typing.Union, UnionType):
        for member in get_args(annotation):
            yield from _leaves(endpoint, name, member, constraints, seen)
    elif origin in (list, set, tuple, frozenset, dict):
        for member in get_args(annotation):
            yield from _leaves(endpoint, f"{name}[]", member, (), seen)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        for field_name, info in annotation.model_fields.items():
            yield from _leaves(
                endpoint, f"{name}.{field_name}", info.annotation, tuple(info.metadata), {*seen, annotation}
            )
    else:
        yield endpoint, name, annotation, constraints


def _validators(constraints: tuple[Any, ...]) -> set[Any]:
    return {getattr(c, "func", None) for c in constraints}


def test_every_time_a_request_takes_is_bounded() -> None:
    """A bare ``datetime`` or ``date`` parameter would let year 9999 or a +20:00 offset through
    to PostgreSQL and to the code that adds windows to it: kit.schemas.Timestamp and Day check
    both. The ingestion endpoints are the exception: they repair times (PostHog's rules)."""
    timestamp = _validators(tuple(get_args(Timestamp)[1:]))
    day = _validators(tuple(get_args(Day)[1:]))
    bare = []
    for endpoint, name, annotation, constraints in _request_fields():
        if endpoint.split(" ")[1] in INGESTION:
            continue
        if annotation is datetime and not timestamp & _validators(constraints):
            bare.append(f"{endpoint}: {name} (datetime: use kit.schemas.Timestamp)")
        elif annotation is date and not day & _validators(constraints):
            bare.append(f"{endpoint}: {name} (date: use kit.schemas.Day)")
    assert not bare, "\n".join(bare)


def _integer_columns() -> dict[str, int]:
    """Column name -> the largest value every integer column of that name holds."""
    largest: dict[str, int] = {}
    for table in Base.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, SmallInteger):
                most = 2**15 - 1
            elif isinstance(column.type, BigInteger):
                most = 2**63 - 1
            elif isinstance(column.type, Integer):
                most = 2**31 - 1
            else:
                continue
            largest[column.name] = min(largest.get(column.name, most), most)
    return largest


def _bound(constraints: tuple[Any, ...], kinds: tuple[type, ...], attribute: str) -> int | None:
    for constraint in constraints:
        if isinstance(constraint, kinds):
            return int(getattr(constraint, attribute))
        if (
            isinstance(constraint, annotated_types.Interval)
            and getattr(constraint, attribute, None) is not None
        ):
            return int(getattr(constraint, attribute))
    return None


def test_every_integer_a_request_takes_fits_its_column() -> None:
    """Each integer has both bounds, within 64 bits, and within the integer column of the same
    name when there is one (``unit_price_cents`` lands in an ``integer``)."""
    columns = _integer_columns()
    wrong = []
    for endpoint, name, annotation, constraints in _request_fields():
        if annotation is not int:
            continue
        if endpoint.split(" ")[1] in INGESTION:
            continue
        most = _bound(constraints, (annotated_types.Le,), "le")
        if most is None and (below := _bound(constraints, (annotated_types.Lt,), "lt")) is not None:
            most = below - 1
        least = _bound(constraints, (annotated_types.Ge,), "ge")
        if least is None and (above := _bound(constraints, (annotated_types.Gt,), "gt")) is not None:
            least = above + 1
        column = name.rsplit(".", 1)[-1].removesuffix("[]")
        limit = columns.get(column, 2**63 - 1)
        if most is None or least is None:
            wrong.append(f"{endpoint}: {name} is unbounded")
        elif most > limit or least < -limit - 1:
            wrong.append(f"{endpoint}: {name} allows {least}..{most}, its column holds up to {limit}")
    assert not wrong, "\n".join(wrong)


# The ingestion endpoints repair what they can and check times their own way (tracking/).
INGESTION = {
    "/api/events",
    "/api/events/batch",
    "/api/page-views",
    "/api/widget-events",
    "/api/activity",
    "/api/system-events",
    "/api/errors",
    "/api/metrics",
}


# -- the constraint handler -------------------------------------------------------------------


async def _violation(session: AsyncSession, sql: str, **params: Any) -> httpx.Response:
    """The answer kit/errors.py gives to the violation ``sql`` makes (run in a savepoint)."""
    try:
        async with session.begin_nested():
            await session.execute(text(sql), params)
    except IntegrityError as exc:
        answer = constraint_violation_response(exc)
        assert answer is not None
        return httpx.Response(answer.status_code, content=bytes(answer.body))
    raise AssertionError(f"no violation: {sql}")


async def test_each_kind_of_constraint_violation_names_its_field(session: AsyncSession) -> None:
    org = await insert_org(session, "Taken", slug="taken-slug")
    unique = await _violation(session, "INSERT INTO organizations (name, slug) VALUES ('x', 'taken-slug')")
    assert unique.status_code == 409
    error = error_of(unique)
    assert (error["code"], error["field"], error["message"]) == (
        "slug_taken",
        "slug",
        "slug: this value is taken",
    )
    check = await _violation(session, "INSERT INTO organizations (name, slug) VALUES ('x', 'Not A Slug')")
    assert check.status_code == 422 and error_of(check)["field"] == "slug"
    not_null = await _violation(session, "INSERT INTO organizations (slug) VALUES ('no-name')")
    assert not_null.status_code == 422 and error_of(not_null)["field"] == "name"
    foreign = await _violation(
        session,
        "INSERT INTO organization_members (organization_id, user_id, role) VALUES (:org, :user, 'member')",
        org=org,
        user=uuid.uuid4(),
    )
    assert foreign.status_code == 422 and error_of(foreign)["field"] == "user_id"
    pending = {"org": org, "email": "twice@example.com"}
    invite = (
        "INSERT INTO invitations (organization_id, invitee_email, role, token_hash, expires_at) "
        "VALUES (:org, :email, 'member', md5(random()::text), now() + interval '1 day')"
    )
    await session.execute(text(invite), pending)
    again = await _violation(session, invite, **pending)
    assert again.status_code == 409
    assert (error_of(again)["field"], error_of(again)["code"]) == ("email", "already_invited")


async def test_every_constraint_of_the_database_has_a_rule(session: AsyncSession) -> None:
    """The names PostgreSQL reports are the ones the models declare (so each maps to a field);
    procrastinate's own tables are not written by requests."""
    rows = await session.execute(
        text(
            """
            SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
            WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('u', 'f', 'c', 'x')
              AND NOT t.relispartition AND t.relkind IN ('r', 'p') AND t.relname NOT LIKE 'procrastinate%'
            UNION
            SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relnamespace = 'public'::regnamespace AND x.indisunique AND NOT x.indisprimary
              AND NOT t.relispartition AND t.relkind IN ('r', 'p') AND t.relname NOT LIKE 'procrastinate%'
            """
        )
    )
    rules = constraint_rules()
    unknown = sorted(name for (name,) in rows.all() if name not in rules)
    assert not unknown, unknown
