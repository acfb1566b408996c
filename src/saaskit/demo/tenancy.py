"""Organizations with their members, teams, workspaces and a few pending invitations.

About one user in four belongs to an organization. A user's first organization is their
"primary" one: their activity is attributed to it from the day they joined.
"""

from __future__ import annotations

import math
import random
import uuid
from array import array
from dataclasses import dataclass, field

from saaskit.demo.config import DAY_US, MINUTE_US, DemoConfig, from_us
from saaskit.demo.copying import Row, TableData
from saaskit.demo.people import People
from saaskit.demo.rand import fake_hash, new_uuid, rng_for
from saaskit.kit.columns import copy_columns
from saaskit.tenancy import models as tenancy_models

ADJECTIVES = ("blue", "bright", "calm", "clever", "golden", "green", "happy", "north", "quick", "silver")
NOUNS = ("harbor", "labs", "studio", "works", "systems", "bakery", "clinic", "media", "ventures", "office")
TEAMS = ("Engineering", "Design", "Sales", "Support", "Marketing", "Operations", "Finance")
WORKSPACES = ("Lobby screens", "Office TVs", "Store displays", "Meeting rooms", "Home")

ORG_COLUMNS = copy_columns(
    tenancy_models.Organization,
    ("id", "name", "slug", "logo_url", "billing_email", "settings", "created_by", "created_at", "updated_at"),
)
MEMBER_COLUMNS = copy_columns(
    tenancy_models.OrganizationMember,
    (
        "id",
        "organization_id",
        "user_id",
        "role",
        "is_active",
        "invited_by",
        "invited_at",
        "joined_at",
        "created_at",
        "updated_at",
    ),
)
TEAM_COLUMNS = copy_columns(
    tenancy_models.Team,
    (
        "id",
        "organization_id",
        "name",
        "description",
        "privacy_level",
        "created_by",
        "created_at",
        "updated_at",
    ),
)
TEAM_MEMBER_COLUMNS = copy_columns(
    tenancy_models.TeamMember,
    ("id", "organization_id", "team_id", "user_id", "role", "added_by", "joined_at", "left_at", "created_at"),
)
WORKSPACE_COLUMNS = copy_columns(
    tenancy_models.Workspace,
    (
        "id",
        "organization_id",
        "team_id",
        "name",
        "slug",
        "visibility",
        "created_by",
        "created_at",
        "updated_at",
    ),
)
WORKSPACE_MEMBER_COLUMNS = copy_columns(
    tenancy_models.WorkspaceMember,
    ("id", "organization_id", "workspace_id", "user_id", "role", "added_by", "created_at"),
)
INVITATION_COLUMNS = copy_columns(
    tenancy_models.Invitation,
    (
        "id",
        "organization_id",
        "invitee_email",
        "role",
        "status",
        "token_hash",
        "expires_at",
        "invited_by",
        "created_at",
        "updated_at",
    ),
)


@dataclass
class TenancyRows:
    orgs: list[Row] = field(default_factory=list)
    members: list[Row] = field(default_factory=list)
    teams: list[Row] = field(default_factory=list)
    team_members: list[Row] = field(default_factory=list)
    workspaces: list[Row] = field(default_factory=list)
    workspace_members: list[Row] = field(default_factory=list)
    invitations: list[Row] = field(default_factory=list)

    def tables(self) -> list[TableData]:
        return [
            TableData("organizations", ORG_COLUMNS, self.orgs),
            TableData("organization_members", MEMBER_COLUMNS, self.members),
            TableData("teams", TEAM_COLUMNS, self.teams),
            TableData("team_members", TEAM_MEMBER_COLUMNS, self.team_members),
            TableData("workspaces", WORKSPACE_COLUMNS, self.workspaces),
            TableData("workspace_members", WORKSPACE_MEMBER_COLUMNS, self.workspace_members),
            TableData("invitations", INVITATION_COLUMNS, self.invitations),
        ]


@dataclass
class Tenancy:
    count: int
    ids: bytes
    created_us: array[int]
    owner: array[int]  # user index of the owner
    members: list[list[int]]  # active members (user indexes), owner first
    primary: array[int]  # per user: first organization, -1 for none
    primary_since_us: array[int]  # per user: when they joined it
    rows: TenancyRows = field(default_factory=TenancyRows)

    def raw(self, k: int) -> bytes:
        return self.ids[16 * k : 16 * k + 16]

    def uuid(self, k: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.raw(k))


def _later(rng_value: float, mean_us: float, after_us: int, now_us: int) -> int | None:
    """An instant an exponential delay after ``after_us``; None when it would not be past yet."""
    at = after_us + MINUTE_US + int(-math.log(1.0 - rng_value) * mean_us)
    return at if at < now_us else None


def build_tenancy(config: DemoConfig, people: People) -> Tenancy:
    rng = rng_for(config.seed, "tenancy")
    now = config.now_us
    n = people.count
    rows = TenancyRows()
    result = Tenancy(
        count=0,
        ids=b"",
        created_us=array("q"),
        owner=array("i"),
        members=[],
        primary=array("i", [-1]) * n,
        primary_since_us=array("q", bytes(8 * n)),
        rows=rows,
    )
    ids = bytearray()
    for k in range(config.organizations):
        owner = int(rng.random() * n)
        if people.quiet(owner):
            continue
        created = _later(rng.random(), 3 * DAY_US, people.created_us[owner], now)
        if created is None:
            continue
        org_id = new_uuid(rng)
        index = result.count
        result.count += 1
        ids += org_id.bytes
        result.created_us.append(created)
        result.owner.append(owner)
        name = f"{ADJECTIVES[k % 10].title()} {NOUNS[(k // 10) % 10].title()} {k}"
        slug = f"{ADJECTIVES[k % 10]}-{NOUNS[(k // 10) % 10]}-{k}"
        owner_id = people.uuid(owner)
        logo = f"https://logos.example.com/{slug}.png" if rng.random() < 0.3 else None
        rows.orgs.append(
            (org_id, name, slug, logo, people.email(owner), {}, owner_id, from_us(created), from_us(created))
        )
        # Members: the owner, then a geometric number of others who joined later.
        size = min(60, 1 + int(-math.log(1.0 - rng.random()) * 6))
        chosen = {owner}
        active: list[int] = [owner]
        joined_of = {owner: created}
        for _ in range(size - 1):
            user = int(rng.random() * n)
            if user in chosen or people.quiet(user):
                continue
            joined = _later(rng.random(), 10 * DAY_US, max(created, people.created_us[user]), now)
            if joined is None:
                continue
            chosen.add(user)
            joined_of[user] = joined
            roll = rng.random()
            role = "admin" if roll < 0.1 else ("viewer" if roll > 0.85 else "member")
            is_active = rng.random() < 0.95
            invited = max(created, joined - int(rng.random() * 2 * DAY_US))
            rows.members.append(
                (
                    new_uuid(rng),
                    org_id,
                    people.uuid(user),
                    role,
                    is_active,
                    owner_id,
                    from_us(invited),
                    from_us(joined),
                    from_us(invited),
                    from_us(joined),
                )
            )
            if is_active:
                active.append(user)
        rows.members.append(
            (
                new_uuid(rng),
                org_id,
                owner_id,
                "owner",
                True,
                None,
                None,
                from_us(created),
                from_us(created),
                from_us(created),
            )
        )
        for user in active:
            joined = joined_of[user]
            if result.primary[user] < 0 or joined < result.primary_since_us[user]:
                result.primary[user] = index
                result.primary_since_us[user] = joined
        result.members.append(active)
        _teams_and_workspaces(config, rng, people, org_id, owner, created, active, joined_of, result)
        if rng.random() < 0.15:
            for j in range(1 + int(rng.random() * 2)):
                sent = max(created, now - int(rng.random() * 12 * DAY_US))
                expires = sent + 7 * DAY_US
                status = "pending" if expires > now else "expired"
                rows.invitations.append(
                    (
                        new_uuid(rng),
                        org_id,
                        f"invitee{k}.{j}@example.org",
                        "member",
                        status,
                        fake_hash(config.seed, "invitation", (k, j)),
                        from_us(expires),
                        owner_id,
                        from_us(sent),
                        from_us(sent),
                    )
                )
    result.ids = bytes(ids)
    return result


def _teams_and_workspaces(
    config: DemoConfig,
    rng: random.Random,
    people: People,
    org_id: uuid.UUID,
    owner: int,
    created: int,
    active: list[int],
    joined_of: dict[int, int],
    result: Tenancy,
) -> None:
    rows = result.rows
    now = config.now_us
    owner_id = people.uuid(owner)
    team_ids = []
    if len(active) >= 3:
        for t in range(int(rng.random() * 4)):
            team_created = _later(rng.random(), 5 * DAY_US, created, now)
            if team_created is None:
                continue
            team_id = new_uuid(rng)
            team_ids.append(team_id)
            privacy = ("public", "public", "private", "secret")[int(rng.random() * 4)]
            name = TEAMS[(t + len(active)) % len(TEAMS)]
            rows.teams.append(
                (
                    team_id,
                    org_id,
                    name,
                    f"The {name.lower()} team",
                    privacy,
                    owner_id,
                    from_us(team_created),
                    from_us(team_created),
                )
            )
            lead = True
            for user in active:
                if rng.random() >= 0.4 and user != owner:
                    continue
                since = max(team_created, joined_of[user]) + MINUTE_US
                if since >= now:
                    continue
                left = since + int(rng.random() * 60 * DAY_US) if rng.random() < 0.05 else None
                rows.team_members.append(
                    (
                        new_uuid(rng),
                        org_id,
                        team_id,
                        people.uuid(user),
                        "team_lead" if lead else "team_member",
                        owner_id,
                        from_us(since),
                        from_us(left) if left and left < now else None,
                        from_us(since),
                    )
                )
                lead = False
    for w in range(1 + int(rng.random() * 3)):
        ws_created = _later(rng.random(), 2 * DAY_US, created, now)
        if ws_created is None:
            continue
        ws_id = new_uuid(rng)
        team = team_ids[int(rng.random() * len(team_ids))] if team_ids and rng.random() < 0.4 else None
        visibility = "team" if team else ("organization", "organization", "private")[int(rng.random() * 3)]
        rows.workspaces.append(
            (
                ws_id,
                org_id,
                team,
                WORKSPACES[w % len(WORKSPACES)],
                f"ws-{w + 1}",
                visibility,
                owner_id,
                from_us(ws_created),
                from_us(ws_created),
            )
        )
        for user in active:
            if user != owner and rng.random() >= 0.5:
                continue
            since = max(ws_created, joined_of[user]) + MINUTE_US
            if since >= now:
                continue
            role = (
                "workspace_admin"
                if user == owner
                else ("workspace_editor", "workspace_viewer")[int(rng.random() * 2)]
            )
            rows.workspace_members.append(
                (new_uuid(rng), org_id, ws_id, people.uuid(user), role, owner_id, from_us(since))
            )
