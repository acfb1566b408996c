-- Who is here now (devices/presence.py, the statistics, the admin pages, the presence job): one
-- definition of "present". A simple SQL function, so PostgreSQL inlines it and a range on an
-- indexed last_seen_at column stays an index scan. STABLE, not IMMUTABLE: subtracting an
-- interval from a timestamptz is stable, and PostgreSQL inlines no function declared less
-- volatile than its body.

CREATE OR REPLACE FUNCTION app_is_present(p_seen_at timestamptz, p_at timestamptz, p_window_seconds double precision)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT p_seen_at > p_at - make_interval(secs => p_window_seconds)
$$;
COMMENT ON FUNCTION app_is_present(timestamptz, timestamptz, double precision) IS
  'Whether something last seen at p_seen_at is present at p_at: seen within the presence window '
  '(SAASKIT_PRESENCE_OFFLINE_AFTER_SECONDS, 300 by default: seed 002''s "last 5 minutes").';
