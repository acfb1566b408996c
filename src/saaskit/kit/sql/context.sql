-- The row-level-security context (kit/db.py): three transaction-local settings written with
-- set_config(..., true), read by every policy through these functions. Unset, they match nothing:
-- a policy written with them fails closed.

CREATE OR REPLACE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
COMMENT ON FUNCTION app_user_id() IS 'RLS context: the signed-in user of this transaction, or NULL.';
CREATE OR REPLACE FUNCTION app_organization_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.organization_id', true), '')::uuid $$;
COMMENT ON FUNCTION app_organization_id() IS 'RLS context: the organization this transaction acts for, or NULL.';
CREATE OR REPLACE FUNCTION app_is_service() RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce(current_setting('app.service', true), '') = 'on' $$;
COMMENT ON FUNCTION app_is_service() IS 'RLS context: true for jobs and platform admins, who see every row.';
