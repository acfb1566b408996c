-- Runs as the owner (SECURITY DEFINER): a bearer token is the one thing that may find a session
-- before any context is set. Touches last_used_at at most once a minute to keep requests cheap;
-- a session unused for its idle_timeout_minutes is dead (so it dies between idle-1 and idle
-- minutes after its last use).

CREATE OR REPLACE FUNCTION app_authenticate(p_token_hash text)
RETURNS TABLE (session_id uuid, user_id uuid, user_role text, dashboard_id uuid)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH found AS (
    SELECT s.id, s.user_id, u.role, s.dashboard_id, s.last_used_at
    FROM user_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.session_token_hash = p_token_hash
      AND s.revoked_at IS NULL AND s.expires_at > now()
      AND (s.idle_timeout_minutes IS NULL
           OR s.last_used_at > now() - make_interval(mins => s.idle_timeout_minutes))
      AND u.status = 'active' AND u.deleted_at IS NULL
  ), touched AS (
    UPDATE user_sessions s SET last_used_at = now() FROM found f
    WHERE s.id = f.id AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')
  )
  SELECT f.id, f.user_id, f.role, f.dashboard_id FROM found f
$$;
COMMENT ON FUNCTION app_authenticate(text) IS
  'The live session (not revoked, not expired, not idle too long, user active and not deleted) '
  'for a token hash.';
