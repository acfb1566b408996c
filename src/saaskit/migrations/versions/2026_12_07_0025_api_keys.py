"""API keys (issue 19): personal and organization keys, stored hashed, with scopes, expiry,
rotation, revocation and last use; ``app_authenticate_api_key``; the permission api_keys:manage
in the admin system role.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 08:50:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# manual: row-level security (autogenerate does not see policies).
VISIBLE = "(SELECT app_is_service()) OR user_id = app_user_id() OR organization_id = app_organization_id()"
# accounts/sql/api_keys.sql as of this revision.
AUTHENTICATE = """
CREATE OR REPLACE FUNCTION app_authenticate_api_key(p_key_hash text)
RETURNS TABLE (
  key_id uuid, user_id uuid, user_role text, organization_id uuid, scopes text[],
  rate_limit_per_minute integer, audit_due boolean
)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH found AS (
    SELECT k.id, k.user_id, u.role, k.organization_id, k.scopes, k.rate_limit_per_minute,
           k.last_used_at, k.last_audited_at
    FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE k.key_hash = p_key_hash
      AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
      AND u.status = 'active' AND u.deleted_at IS NULL
  ), touched AS (
    UPDATE api_keys k
    SET last_used_at = now(),
        last_audited_at = CASE WHEN f.last_audited_at IS NULL
                                 OR f.last_audited_at < now() - interval '1 hour'
                               THEN now() ELSE f.last_audited_at END
    FROM found f
    WHERE k.id = f.id AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')
    RETURNING k.id, (f.last_audited_at IS NULL OR f.last_audited_at < now() - interval '1 hour') AS due
  )
  SELECT f.id, f.user_id, f.role, f.organization_id, f.scopes, f.rate_limit_per_minute,
         coalesce(t.due, false)
  FROM found f LEFT JOIN touched t ON t.id = f.id
$$;
COMMENT ON FUNCTION app_authenticate_api_key(text) IS
  'The live API key (not revoked, not expired, holder active) for a key hash; touches its last use.';
"""
# The system roles' new permissions (saaskit.access.permissions.SYSTEM_ROLES as of this revision).
NEW_PERMISSIONS = {"admin": ["api_keys:manage"]}
ADD = sa.text(
    "UPDATE roles SET permissions = permissions || CAST(:added AS jsonb) "
    "WHERE is_system_role AND name = :name"
)
REMOVE = sa.text(
    "UPDATE roles SET permissions = (SELECT coalesce(jsonb_agg(p ORDER BY i), '[]'::jsonb) "
    "FROM jsonb_array_elements(permissions) WITH ORDINALITY AS e(p, i) WHERE NOT p <@ CAST(:added AS jsonb)) "
    "WHERE is_system_role AND name = :name"
)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier (UUID).",
        ),
        sa.Column(
            "user_id",
            sa.UUID(),
            nullable=False,
            comment="Personal key: its holder. Organization key: who created it; the key acts within that "
            "person's current access, so it never holds more than they do.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=True,
            comment="Organization key: the one organization it works in; null for a personal key.",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="What the key is for (shown in lists)."),
        sa.Column(
            "key_prefix",
            sa.Text(),
            nullable=False,
            comment="The key's first characters (sak_ and 8 more), to recognise it.",
        ),
        sa.Column(
            "key_hash",
            sa.Text(),
            nullable=False,
            comment="SHA-256 of the key (hex); the key itself is never stored.",
        ),
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
            comment="Permissions from the catalog the key may use (within its holder's access).",
        ),
        sa.Column(
            "rate_limit_per_minute",
            sa.Integer(),
            nullable=True,
            comment="Requests per minute for this key; null: the setting rate_limit.api_key.",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the key stops working (UTC); null: never.",
        ),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the key was revoked (UTC); it no longer works.",
        ),
        sa.Column(
            "replaced_by",
            sa.UUID(),
            nullable=True,
            comment="The key that replaced it on rotation (this one expires after the overlap).",
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Last request with the key (UTC, updated at most once a minute).",
        ),
        sa.Column(
            "last_audited_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Last api_key.used row in the activity log (at most one an hour per key).",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was created (UTC).",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC).",
        ),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 200", name=op.f("ck_api_keys_name_length")),
        sa.CheckConstraint(
            "rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0",
            name=op.f("ck_api_keys_rate_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaced_by"],
            ["api_keys.id"],
            name=op.f("fk_api_keys_replaced_by_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        comment="API keys for servers: personal (organization_id null) or an organization's; only "
        "the SHA-256 is kept (RLS: the holder's own, the organization's, or service).",
    )
    op.create_index("idx_api_keys_organization_id", "api_keys", ["organization_id"], unique=False)
    op.create_index("idx_api_keys_replaced_by", "api_keys", ["replaced_by"], unique=False)
    op.create_index("idx_api_keys_user_id", "api_keys", ["user_id"], unique=False)
    op.execute("ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY api_keys_visible ON api_keys USING ({VISIBLE}) WITH CHECK ({VISIBLE})")
    op.execute(AUTHENTICATE)
    for name, added in NEW_PERMISSIONS.items():
        op.execute(ADD.bindparams(name=name, added=json.dumps(added)))


def downgrade() -> None:
    for name, added in NEW_PERMISSIONS.items():
        op.execute(REMOVE.bindparams(name=name, added=json.dumps(added)))
    op.execute("DROP FUNCTION app_authenticate_api_key(text)")
    op.drop_index("idx_api_keys_user_id", table_name="api_keys")
    op.drop_index("idx_api_keys_replaced_by", table_name="api_keys")
    op.drop_index("idx_api_keys_organization_id", table_name="api_keys")
    op.drop_table("api_keys")
