-- Running totals kept by triggers (counter_triggers.sql) so that GET /api/admin/stats never
-- counts a whole table.
--
-- users.subscription_live_until / has_expired_subscription summarise a user's own
-- subscriptions; app_refresh_user_subscription_state recomputes them for the users a statement
-- on subscriptions touched, and moves the lapsed_users counter by what changed. It first locks
-- the users rows (FOR NO KEY UPDATE, in id order: it does not conflict with the KEY SHARE lock
-- that inserting a subscription takes on its user, and the fixed order rules out deadlocks), then
-- reads subscriptions in a new statement, so under READ COMMITTED it sees what a concurrent
-- transaction committed before releasing the lock.
--
-- A "lapsed" user (docs/statistics.md) has no live subscription and an ended one. The counter
-- holds the stored part (no live subscription, has an expired one); users whose live
-- subscription's end has passed but whose status the expiry job has not yet changed are added at
-- read time from idx_users_subscription_live_until (few: at most a day's expiries).

-- "Runs forever" for a subscription without an end. Not 'infinity': Python's datetime (and so
-- every ORM load of a users row) cannot hold it; year 9999 it can, in any time zone.
CREATE OR REPLACE FUNCTION app_no_end() RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT TIMESTAMPTZ '9999-01-01 00:00:00+00'
$$;
COMMENT ON FUNCTION app_no_end() IS 'The end used for subscriptions that have none: 9999-01-01 UTC.';

CREATE OR REPLACE FUNCTION app_bump_counter(p_counter text, p_dimension text, p_delta bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO stats_counters (counter, dimension, value) SELECT p_counter, p_dimension, p_delta
  WHERE p_delta <> 0
  ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value
$$;
COMMENT ON FUNCTION app_bump_counter(text, text, bigint) IS
  'Adds p_delta to a stats_counters row (created at 0 if missing); nothing when p_delta is 0.';

CREATE OR REPLACE FUNCTION app_user_is_lapsed(p_deleted_at timestamptz, p_live_until timestamptz, p_has_expired boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_deleted_at IS NULL AND p_live_until IS NULL AND p_has_expired
$$;
COMMENT ON FUNCTION app_user_is_lapsed(timestamptz, timestamptz, boolean) IS
  'The stored part of "lapsed": not deleted, no live subscription, an expired one.';

CREATE OR REPLACE FUNCTION app_refresh_user_subscription_state(p_users uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_delta bigint;
BEGIN
  PERFORM 1 FROM users WHERE id = ANY(p_users) ORDER BY id FOR NO KEY UPDATE;
  WITH target AS (
      SELECT u.id,
             app_user_is_lapsed(u.deleted_at, u.subscription_live_until, u.has_expired_subscription) AS was_lapsed,
             (SELECT max(coalesce(s.ends_at, app_no_end())) FROM subscriptions s
               WHERE s.user_id = u.id AND s.status IN ('trialing', 'active', 'past_due')) AS live_until,
             EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND s.status = 'expired') AS has_expired
      FROM users u WHERE u.id = ANY(p_users)
  ), changed AS (
      UPDATE users u SET subscription_live_until = t.live_until, has_expired_subscription = t.has_expired
      FROM target t
      WHERE u.id = t.id AND (u.subscription_live_until IS DISTINCT FROM t.live_until
                             OR u.has_expired_subscription IS DISTINCT FROM t.has_expired)
      RETURNING t.was_lapsed, app_user_is_lapsed(u.deleted_at, u.subscription_live_until,
                                                 u.has_expired_subscription) AS is_lapsed
  )
  SELECT coalesce(sum(is_lapsed::int - was_lapsed::int), 0) INTO v_delta FROM changed;
  PERFORM app_bump_counter('lapsed_users', '', v_delta);
END $$;
COMMENT ON FUNCTION app_refresh_user_subscription_state(uuid[]) IS
  'Recomputes users.subscription_live_until and has_expired_subscription of these users from '
  'their subscriptions and moves the lapsed_users counter accordingly.';

CREATE OR REPLACE FUNCTION app_subscriptions_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_users uuid[];
BEGIN
  -- Each branch names only the transition tables its trigger defines (PL/pgSQL plans a
  -- statement when it first runs it). One statement per branch: the counters move and the
  -- touched users are collected from the same rows.
  IF TG_OP = 'INSERT' THEN
    WITH d AS (SELECT user_id, status, plan_name, 1 AS delta FROM new_rows),
    bumped AS (
      INSERT INTO stats_counters (counter, dimension, value)
      SELECT 'subscriptions:' || status, plan_name, sum(delta) FROM d GROUP BY status, plan_name
      ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value)
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO v_users FROM d WHERE user_id IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    WITH d AS (SELECT user_id, status, plan_name, -1 AS delta FROM old_rows),
    bumped AS (
      INSERT INTO stats_counters (counter, dimension, value)
      SELECT 'subscriptions:' || status, plan_name, sum(delta) FROM d GROUP BY status, plan_name
      ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value)
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO v_users FROM d WHERE user_id IS NOT NULL;
  ELSE
    -- Only a change of status, end or owner can change a user's subscription state.
    WITH d AS (
      SELECT user_id, status, plan_name, 1 AS delta FROM new_rows
      UNION ALL SELECT user_id, status, plan_name, -1 FROM old_rows),
    bumped AS (
      INSERT INTO stats_counters (counter, dimension, value)
      SELECT 'subscriptions:' || status, plan_name, sum(delta) FROM d GROUP BY status, plan_name
      HAVING sum(delta) <> 0
      ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value),
    moved AS (
      SELECT n.user_id AS now_owner, o.user_id AS was_owner FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE (n.status, n.ends_at, n.user_id) IS DISTINCT FROM (o.status, o.ends_at, o.user_id))
    SELECT array_agg(DISTINCT u ORDER BY u) INTO v_users
    FROM moved CROSS JOIN LATERAL (VALUES (now_owner), (was_owner)) AS v(u) WHERE u IS NOT NULL;
  END IF;
  IF v_users IS NOT NULL THEN
    PERFORM app_refresh_user_subscription_state(v_users);
  END IF;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_subscriptions_changed() IS
  'After each statement on subscriptions: moves the subscriptions:<status> counters (per plan) '
  'and refreshes the subscription state of the users concerned.';

CREATE OR REPLACE FUNCTION app_users_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('users', '', count(*) FILTER (WHERE deleted_at IS NULL)),
          app_bump_counter('lapsed_users', '', count(*) FILTER (
            WHERE app_user_is_lapsed(deleted_at, subscription_live_until, has_expired_subscription)))
  FROM new_rows;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_users_inserted() IS
  'After each INSERT on users: counts the new users (and lapsed ones) in stats_counters.';

CREATE OR REPLACE FUNCTION app_users_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('users', '', -count(*) FILTER (WHERE deleted_at IS NULL)),
          app_bump_counter('lapsed_users', '', -count(*) FILTER (
            WHERE app_user_is_lapsed(deleted_at, subscription_live_until, has_expired_subscription)))
  FROM old_rows;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_users_deleted() IS
  'After each DELETE on users: uncounts the deleted users (and lapsed ones) in stats_counters.';

-- Row level, and only when deleted_at changes: heartbeats update users constantly and must not
-- pay for this (a statement trigger with transition tables cannot name columns).
CREATE OR REPLACE FUNCTION app_user_deleted_at_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('users', '', (NEW.deleted_at IS NULL)::int - (OLD.deleted_at IS NULL)::int);
  PERFORM app_bump_counter('lapsed_users', '',
    app_user_is_lapsed(NEW.deleted_at, NEW.subscription_live_until, NEW.has_expired_subscription)::int
    - app_user_is_lapsed(OLD.deleted_at, OLD.subscription_live_until, OLD.has_expired_subscription)::int);
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_user_deleted_at_changed() IS
  'When a user is soft-deleted or restored: moves the users and lapsed_users counters.';

CREATE OR REPLACE FUNCTION app_visitor_sessions_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- track-visit upserts: a refreshed session is not in new_rows, so this is 0 and writes nothing.
  PERFORM app_bump_counter('visitors', '', count(*)) FROM new_rows;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_visitor_sessions_inserted() IS
  'After each INSERT on visitor_sessions: counts the new sessions in stats_counters.';

CREATE OR REPLACE FUNCTION app_visitor_sessions_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counter('visitors', '', -count(*)) FROM old_rows;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_visitor_sessions_deleted() IS
  'After each DELETE on visitor_sessions: uncounts the deleted sessions in stats_counters.';

-- From scratch: after a restore, or to check that the triggers kept the truth (a test does).
CREATE OR REPLACE FUNCTION app_rebuild_stats_counters() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  LOCK TABLE users, subscriptions, visitor_sessions IN SHARE MODE;
  UPDATE users u SET subscription_live_until = s.live_until, has_expired_subscription = s.has_expired
  FROM (
    SELECT u2.id,
           max(coalesce(s2.ends_at, app_no_end()))
             FILTER (WHERE s2.status IN ('trialing', 'active', 'past_due')) AS live_until,
           coalesce(bool_or(s2.status = 'expired'), false) AS has_expired
    FROM users u2 LEFT JOIN subscriptions s2 ON s2.user_id = u2.id GROUP BY u2.id) s
  WHERE u.id = s.id AND (u.subscription_live_until IS DISTINCT FROM s.live_until
                         OR u.has_expired_subscription IS DISTINCT FROM s.has_expired);
  DELETE FROM stats_counters;
  INSERT INTO stats_counters (counter, dimension, value)
  SELECT 'users', '', count(*) FROM users WHERE deleted_at IS NULL
  UNION ALL
  SELECT 'lapsed_users', '', count(*) FROM users
    WHERE app_user_is_lapsed(deleted_at, subscription_live_until, has_expired_subscription)
  UNION ALL
  SELECT 'visitors', '', count(*) FROM visitor_sessions
  UNION ALL
  SELECT 'subscriptions:' || status, plan_name, count(*) FROM subscriptions GROUP BY status, plan_name;
END $$;
COMMENT ON FUNCTION app_rebuild_stats_counters() IS
  'Recomputes every stats_counters row and the users subscription-state columns from the tables.';
