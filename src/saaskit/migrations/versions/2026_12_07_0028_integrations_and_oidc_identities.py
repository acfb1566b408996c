"""Integrations (seed 004: third-party connections and their OAuth tokens, sealed) under the
organization's RLS; one account per external identity (users.auth_provider, auth_provider_id).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 08:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "organization_id = app_organization_id() OR (SELECT app_is_service())"


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column(
            "id",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Unique identifier of the connection (UUID); binds its sealed tokens.",
        ),
        sa.Column(
            "organization_id",
            sa.UUID(),
            nullable=False,
            comment="The organization that connected the provider.",
        ),
        sa.Column(
            "provider",
            sa.Text(),
            nullable=False,
            comment="Name of the configured provider (a key of SAASKIT_OIDC_PROVIDERS).",
        ),
        sa.Column(
            "external_account_id",
            sa.Text(),
            nullable=False,
            comment="The connected account's id at the provider (OpenID subject, GitHub id).",
        ),
        sa.Column(
            "external_account_email",
            sa.Text(),
            nullable=True,
            comment="The connected account's e-mail at the provider, for display; null if it gave none.",
        ),
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
            comment="Scopes the provider granted (as it reported them, else as asked).",
        ),
        sa.Column(
            "status",
            sa.Text(),
            server_default="active",
            nullable=False,
            comment="active; refresh_failed (the provider refused the refresh token: connect again); disconnected.",
        ),
        sa.Column("token_type", sa.Text(), nullable=True, comment="The access token's type, usually Bearer."),
        sa.Column(
            "access_token_sealed",
            sa.LargeBinary(),
            nullable=True,
            comment="Access token, AES-256-GCM under a key derived from the instance secret, bound to this row; null once disconnected.",
        ),
        sa.Column(
            "refresh_token_sealed",
            sa.LargeBinary(),
            nullable=True,
            comment="Refresh token, sealed like the access token; null when the provider gave none or once disconnected.",
        ),
        sa.Column(
            "token_expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the access token stops working (UTC); null: the provider did not say.",
        ),
        sa.Column(
            "last_refreshed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Last successful refresh of the access token (UTC); null: never.",
        ),
        sa.Column(
            "last_error",
            sa.Text(),
            nullable=True,
            comment="The provider's answer to the last failed refresh (its error code), for operators.",
        ),
        sa.Column(
            "connected_by_user_id",
            sa.UUID(),
            nullable=True,
            comment="Who connected it (null once that account is deleted).",
        ),
        sa.Column(
            "connected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When it was (last) connected (UTC).",
        ),
        sa.Column(
            "disconnected_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it was disconnected (UTC); null: still connected.",
        ),
        sa.Column(
            "disconnected_by_user_id",
            sa.UUID(),
            nullable=True,
            comment="Who disconnected it; null while connected (or once that account is deleted).",
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
        sa.CheckConstraint(
            "(status = 'disconnected') = (disconnected_at IS NOT NULL)",
            name=op.f("ck_integrations_disconnected_when_status_says"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'refresh_failed', 'disconnected')",
            name=op.f("ck_integrations_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["connected_by_user_id"],
            ["users.id"],
            name=op.f("fk_integrations_connected_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["disconnected_by_user_id"],
            ["users.id"],
            name=op.f("fk_integrations_disconnected_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_integrations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        comment="Third-party services an organization connected through OAuth / OpenID Connect: provider, account, scopes, sealed tokens and their expiry, status (RLS: the organization's own).",
    )
    op.create_index(
        "idx_integrations_connected_by_user_id", "integrations", ["connected_by_user_id"], unique=False
    )
    op.create_index(
        "idx_integrations_disconnected_by_user_id", "integrations", ["disconnected_by_user_id"], unique=False
    )
    op.create_index("idx_integrations_organization_id", "integrations", ["organization_id"], unique=False)
    op.create_index(
        "idx_integrations_organization_id_provider",
        "integrations",
        ["organization_id", "provider"],
        unique=True,
        postgresql_where=sa.text("disconnected_at IS NULL"),
    )
    op.create_index(
        "idx_integrations_token_expires_at",
        "integrations",
        ["token_expires_at"],
        unique=False,
        postgresql_where=sa.text("disconnected_at IS NULL"),
    )
    # manual: row-level security, the organization's own rows (or the service context).
    op.execute("ALTER TABLE integrations ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY integrations_tenant ON integrations USING ({TENANT}) WITH CHECK ({TENANT})")
    # One account per external identity: two accounts must never share (provider, subject).
    op.create_index(
        "idx_users_auth_provider_auth_provider_id",
        "users",
        ["auth_provider", "auth_provider_id"],
        unique=True,
        postgresql_where=sa.text("auth_provider_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "idx_users_auth_provider_auth_provider_id",
        table_name="users",
        postgresql_where=sa.text("auth_provider_id IS NOT NULL"),
    )
    op.drop_table("integrations")
