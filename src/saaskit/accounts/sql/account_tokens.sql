-- The token of a link (password reset, e-mail confirmation) is the only credential its holder
-- has: like app_authenticate, this finds its row before any context is set. The user's
-- password_changed_at and current e-mail come with it: a password set or an address changed
-- after the link was sent makes it stale (accounts/tokens.py).

CREATE OR REPLACE FUNCTION app_account_token(p_token_hash text)
RETURNS TABLE (
  id uuid, user_id uuid, purpose text, email text, created_at timestamptz, expires_at timestamptz,
  used_at timestamptz, revoked_at timestamptz, user_email text, user_status text,
  user_deleted_at timestamptz, password_changed_at timestamptz
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT t.id, t.user_id, t.purpose, t.email, t.created_at, t.expires_at, t.used_at, t.revoked_at,
         u.email, u.status, u.deleted_at, u.password_changed_at
  FROM account_tokens t JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = p_token_hash
$$;
COMMENT ON FUNCTION app_account_token(text) IS
  'The account link (password reset, e-mail confirmation) matching a token hash, with its user''s state.';
