-- Usage sessions (devices/sessions.py): the rows of user_sessions with session_type 'usage', one
-- period of app use on a device. Started by POST /api/sessions/start or by the first heartbeat of
-- a device that has none open; at most one is open per device (the partial unique index
-- idx_user_sessions_dashboard_id_open), so two starts at once end with one session.

CREATE OR REPLACE FUNCTION app_start_usage_session(
    p_user_id uuid, p_dashboard_id uuid, p_ip_hash text, p_user_agent text, p_country_code text,
    p_auth_method text, p_widgets text[], p_errors integer)
RETURNS uuid LANGUAGE sql VOLATILE AS $$
  WITH started AS (
      INSERT INTO user_sessions AS s (
          user_id, dashboard_id, session_type, started_at, ip_address_hash, user_agent, country_code,
          auth_method, widgets_interacted, error_count)
      VALUES (p_user_id, p_dashboard_id, 'usage', now(), p_ip_hash, p_user_agent, p_country_code,
              p_auth_method, coalesce(p_widgets, '{}'), coalesce(p_errors, 0))
      ON CONFLICT (dashboard_id) WHERE session_type = 'usage' AND ended_at IS NULL DO NOTHING
      RETURNING s.id
  ), counted AS (
      UPDATE dashboards SET total_sessions = total_sessions + 1
      WHERE id = p_dashboard_id AND EXISTS (SELECT 1 FROM started)
  ), opened AS (
      -- A usage session started is an app open (seed 002's dailyActivity).
      INSERT INTO activity_events (user_id, event_type) SELECT p_user_id, 'app_open' FROM started
  )
  SELECT id FROM started
$$;
COMMENT ON FUNCTION app_start_usage_session(uuid, uuid, text, text, text, text, text[], integer) IS
  'Starts a usage session on a device unless one is open there (then NULL): counts it in '
  'dashboards.total_sessions and records an app_open activity event. RLS applies (the user''s '
  'context).';
