-- The heartbeat, in two functions (PL/pgSQL: their plans are cached per connection):
-- - app_heartbeat_write: every write of one heartbeat: the start of a usage session when the
--   device has none open (app_start_usage_session, sessions.sql), then ONE statement of
--   data-modifying CTEs for the rest (see saaskit/devices/heartbeat.py for the concurrency
--   argument). RLS applies: the caller's context must be the user's.
-- - app_heartbeat: authenticates the token (app_authenticate, as every request does), sets the
--   RLS context, writes. One call, so the endpoint costs one round trip in an autocommit
--   transaction. A dashboard named by the client that is not the user's raises (SQLSTATE P0002),
--   which undoes everything: a heartbeat counts entirely or not at all. An invalid token returns
--   no row and writes nothing.

CREATE OR REPLACE FUNCTION app_heartbeat_write(
    p_user_id uuid, p_dashboard_id uuid, p_app_version text, p_widgets text[], p_errors integer,
    p_max_gap_seconds double precision, p_ip_hash text, p_user_agent text, p_country_code text)
RETURNS TABLE (needs_reload boolean, needs_update boolean, dashboard_found boolean, usage_session_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  v_started uuid;
BEGIN
  -- A device with no open usage session starts one (sessions.sql: the same function as
  -- POST /api/sessions/start). The unique index decides a race between two heartbeats.
  IF p_dashboard_id IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM user_sessions
                     WHERE dashboard_id = p_dashboard_id AND session_type = 'usage' AND ended_at IS NULL)
     AND EXISTS (SELECT 1 FROM dashboards d
                 WHERE d.id = p_dashboard_id AND d.user_id = p_user_id AND d.deleted_at IS NULL) THEN
    v_started := app_start_usage_session(p_user_id, p_dashboard_id, p_ip_hash, p_user_agent, p_country_code,
                                         NULL, p_widgets, p_errors);
  END IF;
  RETURN QUERY
  WITH open_session AS (
      SELECT id FROM user_sessions
      WHERE dashboard_id = p_dashboard_id AND session_type = 'usage' AND ended_at IS NULL
  ), device AS (
      UPDATE dashboards SET
          total_uptime_seconds = total_uptime_seconds + CASE
              WHEN last_heartbeat_at IS NULL OR now() - last_heartbeat_at > make_interval(secs => p_max_gap_seconds)
              THEN 0
              ELSE GREATEST(0, extract(epoch FROM now() - last_heartbeat_at)) END,
          last_heartbeat_at = GREATEST(last_heartbeat_at, now()),
          is_online = true,
          current_version = coalesce(p_app_version, current_version),
          needs_update = app_needs_update(needs_update, current_version, p_app_version, device_type)
      WHERE id = p_dashboard_id AND user_id = p_user_id AND deleted_at IS NULL
      RETURNING device_type, needs_update
  ), account AS (
      UPDATE users SET
          last_heartbeat_at = GREATEST(last_heartbeat_at, now()),
          last_seen_at = GREATEST(last_seen_at, now()),
          is_currently_active = true,
          current_app_version = coalesce(p_app_version, current_app_version),
          needs_reload = app_needs_reload(needs_reload, p_app_version, (SELECT device_type FROM device))
      WHERE id = p_user_id
      RETURNING needs_reload
  ), beat AS (
      INSERT INTO user_heartbeats AS h (user_id, last_seen_at) VALUES (p_user_id, now())
      ON CONFLICT (user_id) DO UPDATE SET last_seen_at = GREATEST(h.last_seen_at, EXCLUDED.last_seen_at)
  ), activity AS (
      -- A session started above already holds this heartbeat's widgets and errors.
      UPDATE user_sessions SET
          widgets_interacted = ARRAY(SELECT DISTINCT w FROM unnest(widgets_interacted || p_widgets) AS w ORDER BY w),
          error_count = error_count + p_errors
      WHERE id = (SELECT id FROM open_session) AND v_started IS NULL
        AND (p_errors > 0 OR cardinality(p_widgets) > 0)
  )
  SELECT coalesce((SELECT needs_reload FROM account), false),
         coalesce((SELECT needs_update FROM device), false),
         EXISTS (SELECT 1 FROM device),
         coalesce(v_started, (SELECT id FROM open_session));
END $$;
COMMENT ON FUNCTION app_heartbeat_write(uuid, uuid, text, text[], integer, double precision, text, text, text) IS
  'Every write of one heartbeat of a user (and device): a usage session started if none is open, '
  'then one statement for the rest; the RLS context must be the user''s.';

CREATE OR REPLACE FUNCTION app_heartbeat(
    p_token_hash text, p_dashboard_id uuid, p_app_version text, p_widgets text[], p_errors integer,
    p_max_gap_seconds double precision, p_ip_hash text, p_user_agent text, p_country_code text)
RETURNS TABLE (user_id uuid, dashboard_id uuid, needs_reload boolean, needs_update boolean, usage_session_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_user uuid;
  v_dashboard uuid;
  r record;
BEGIN
  SELECT a.user_id, coalesce(p_dashboard_id, a.dashboard_id) INTO v_user, v_dashboard
  FROM app_authenticate(p_token_hash) AS a;
  IF v_user IS NULL THEN
    RETURN;
  END IF;
  PERFORM set_config('app.user_id', v_user::text, true), set_config('app.organization_id', '', true),
          set_config('app.service', '', true);
  SELECT * INTO r FROM app_heartbeat_write(v_user, v_dashboard, p_app_version, p_widgets, p_errors,
                                           p_max_gap_seconds, p_ip_hash, p_user_agent, p_country_code);
  IF v_dashboard IS NOT NULL AND NOT r.dashboard_found THEN
    IF p_dashboard_id IS NOT NULL THEN
      RAISE EXCEPTION 'dashboard_not_found' USING ERRCODE = 'no_data_found';
    END IF;
    v_dashboard := NULL;  -- the token's dashboard was deleted: presence only
  END IF;
  user_id := v_user;
  dashboard_id := v_dashboard;
  needs_reload := r.needs_reload;
  needs_update := r.needs_update;
  usage_session_id := r.usage_session_id;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION app_heartbeat(text, uuid, text, text[], integer, double precision, text, text, text) IS
  'POST /api/heartbeat in one call: authenticate the token, set the RLS context, write (app_heartbeat_write).';
