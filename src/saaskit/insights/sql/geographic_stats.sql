-- Seed 000/001: country-level figures, a materialized view refreshed daily. Unknown countries
-- are 'ZZ' (ISO 3166's user-assigned "unknown"). A user is a trial user with a live trialing
-- subscription of their own and no paid one; paid with a live active or past_due one.

CREATE MATERIALIZED VIEW geographic_stats AS
WITH live AS (
    SELECT user_id, bool_or(status = 'trialing') AS trialing, bool_or(status IN ('active', 'past_due')) AS paid
    FROM subscriptions
    WHERE user_id IS NOT NULL AND app_is_entitled(status)
      AND (ends_at IS NULL OR ends_at > now())
    GROUP BY user_id
), sessions AS (
    SELECT user_id, sum(extract(epoch FROM ended_at - started_at)) / 60 AS minutes, count(*) AS n
    FROM user_sessions
    WHERE session_type = 'usage' AND ended_at IS NOT NULL AND started_at > now() - interval '30 days'
    GROUP BY user_id
)
SELECT coalesce(u.country_code, 'ZZ') AS country_code,
       count(*)::integer AS total_users,
       (count(*) FILTER (WHERE u.last_seen_at > now() - interval '30 days'))::integer AS active_users_30d,
       (count(*) FILTER (WHERE live.trialing AND NOT live.paid))::integer AS trial_users,
       (count(*) FILTER (WHERE live.paid))::integer AS paid_users,
       round((sum(sessions.minutes) / nullif(sum(sessions.n), 0))::numeric, 2) AS avg_session_duration_minutes,
       now() AS last_updated
FROM users u
LEFT JOIN live ON live.user_id = u.id
LEFT JOIN sessions ON sessions.user_id = u.id
WHERE u.deleted_at IS NULL
GROUP BY 1
WITH DATA;
CREATE UNIQUE INDEX idx_geographic_stats_country_code ON geographic_stats (country_code);
CREATE INDEX idx_geographic_stats_paid_users ON geographic_stats (paid_users);
CREATE INDEX idx_geographic_stats_active_users_30d ON geographic_stats (active_users_30d);
COMMENT ON MATERIALIZED VIEW geographic_stats IS
  'Users per country (seeds 000/001): totals, active in 30 days, trial and paid, mean usage-session '
  'length over 30 days. Refreshed daily by the insights job (app_refresh_geographic_stats).';
COMMENT ON COLUMN geographic_stats.country_code IS 'ISO 3166-1 alpha-2 country; ZZ when unknown.';
COMMENT ON COLUMN geographic_stats.total_users IS 'Accounts (not deleted) from the country.';
COMMENT ON COLUMN geographic_stats.active_users_30d IS 'Of them, seen in the last 30 days.';
COMMENT ON COLUMN geographic_stats.trial_users IS 'Of them, on a live trial and not paying.';
COMMENT ON COLUMN geographic_stats.paid_users IS 'Of them, with a live active or past_due subscription.';
COMMENT ON COLUMN geographic_stats.avg_session_duration_minutes IS
  'Mean length in minutes of their usage sessions started in the last 30 days and ended.';
COMMENT ON COLUMN geographic_stats.last_updated IS 'When the view was refreshed (UTC).';

CREATE OR REPLACE FUNCTION app_refresh_geographic_stats() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  REFRESH MATERIALIZED VIEW CONCURRENTLY geographic_stats
$$;
COMMENT ON FUNCTION app_refresh_geographic_stats() IS
  'Refreshes geographic_stats without blocking its readers (the application role owns no view).';
