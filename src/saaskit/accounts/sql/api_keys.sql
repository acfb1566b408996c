-- Runs as the owner (SECURITY DEFINER): an API key, like a session token, is the one thing that
-- may find its row before any context is set. Touches last_used_at at most once a minute and
-- says when an hourly api_key.used audit row is due (audit_due), so a busy key costs one
-- UPDATE a minute and one activity row an hour, whatever its traffic.

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
