-- Running totals kept by triggers (counters_triggers.sql), so that GET /api/admin/stats never
-- counts a whole table (docs/statistics.md, "Where each figure comes from").
--
-- What one row counts toward is written once, as a set-returning function per table
-- (app_user_counts, app_subscription_counts); every trigger, the subscription-state refresh and
-- the rebuild add (+1) what new rows count toward and remove (-1) what old rows counted toward,
-- through app_bump_counters. Counters with a day (stats_day_counters) hold rows by the UTC day
-- they end on, for the figures that change with the clock alone: "ended before today" is a sum
-- of those rows, today's part an indexed range read at query time.
--
-- users.subscription_live_until, has_expired_subscription and subscription_first_end summarise
-- a user's own subscriptions; app_refresh_user_subscription_state recomputes them for the users
-- a statement on subscriptions touched. It first locks the users rows (FOR NO KEY UPDATE, in id
-- order: it does not conflict with the KEY SHARE lock that inserting a subscription takes on its
-- user, and the fixed order rules out deadlocks), then reads subscriptions in a new statement,
-- so under READ COMMITTED it sees what a concurrent transaction committed before releasing the
-- lock.

-- "Runs forever" for a subscription without an end. Not 'infinity': Python's datetime (and so
-- every ORM load of a users row) cannot hold it; year 9999 it can, in any time zone.
CREATE OR REPLACE FUNCTION app_no_end() RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT TIMESTAMPTZ '9999-01-01 00:00:00+00'
$$;
COMMENT ON FUNCTION app_no_end() IS 'The end used for subscriptions that have none: 9999-01-01 UTC.';

-- "Lapsed" (docs/statistics.md, the users partition): not deleted, no live subscription of one's
-- own, and an ended one. Stored part (p_at NULL): no live one and an expired one, which the
-- lapsed_users counter holds; at a moment p_at, also the users whose last live subscription's
-- end has passed before the expiry job changed its status (few: found by
-- idx_users_subscription_live_until).
CREATE OR REPLACE FUNCTION app_user_lapsed_at(p_deleted_at timestamptz, p_live_until timestamptz,
                                              p_has_expired boolean, p_at timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_deleted_at IS NULL
     AND ((p_live_until IS NULL AND p_has_expired) OR coalesce(p_live_until <= p_at, false))
$$;
COMMENT ON FUNCTION app_user_lapsed_at(timestamptz, timestamptz, boolean, timestamptz) IS
  'Whether a user is lapsed at p_at (no live subscription of their own, an ended one); with p_at '
  'NULL, the part that does not depend on the clock.';

CREATE OR REPLACE FUNCTION app_user_counts(p_deleted_at timestamptz, p_live_until timestamptz,
                                           p_has_expired boolean, p_first_end timestamptz)
RETURNS TABLE (counter text, dimension text, day date) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'users', '', NULL::date WHERE p_deleted_at IS NULL
  UNION ALL
  SELECT 'lapsed_users', '', NULL WHERE app_user_lapsed_at(p_deleted_at, p_live_until, p_has_expired, NULL)
  UNION ALL
  SELECT 'users_with_expired_subscription', '', NULL WHERE p_deleted_at IS NULL AND p_has_expired
  UNION ALL
  SELECT 'users_first_end', '', (p_first_end AT TIME ZONE 'UTC')::date
  WHERE p_deleted_at IS NULL AND NOT p_has_expired AND p_first_end IS NOT NULL
$$;
COMMENT ON FUNCTION app_user_counts(timestamptz, timestamptz, boolean, timestamptz) IS
  'The counters one users row adds 1 to: users (not deleted), lapsed_users (stored part), '
  'users_with_expired_subscription, and users_first_end on the day its first end falls (seed '
  '002''s expired users, when no subscription is expired yet).';

CREATE OR REPLACE FUNCTION app_subscription_counts(p_status text, p_plan_name text, p_ends_at timestamptz)
RETURNS TABLE (counter text, dimension text, day date) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'subscriptions:' || p_status, p_plan_name, NULL::date
  UNION ALL
  SELECT 'subscriptions_ending:' || p_status, p_plan_name, (p_ends_at AT TIME ZONE 'UTC')::date
  WHERE p_status <> 'expired' AND p_ends_at IS NOT NULL
$$;
COMMENT ON FUNCTION app_subscription_counts(text, text, timestamptz) IS
  'The counters one subscriptions row adds 1 to: subscriptions:<status> per plan, and, unless it '
  'is expired, subscriptions_ending:<status> per plan on the day it ends.';

CREATE OR REPLACE FUNCTION app_bump_counters(p_counters text[], p_dimensions text[], p_days date[],
                                             p_deltas bigint[])
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH d AS (
    SELECT c, dim, day, sum(delta) AS delta
    FROM unnest(p_counters, p_dimensions, p_days, p_deltas) AS u(c, dim, day, delta)
    GROUP BY c, dim, day HAVING sum(delta) <> 0
  ), plain AS (
    INSERT INTO stats_counters (counter, dimension, value)
    SELECT c, dim, delta FROM d WHERE day IS NULL
    ON CONFLICT (counter, dimension) DO UPDATE SET value = stats_counters.value + excluded.value
    RETURNING 1
  ), by_day AS (
    INSERT INTO stats_day_counters (counter, dimension, day, value)
    SELECT c, dim, day, delta FROM d WHERE day IS NOT NULL
    ON CONFLICT (counter, dimension, day) DO UPDATE SET value = stats_day_counters.value + excluded.value
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM plain) + (SELECT count(*) FROM by_day)
$$;
COMMENT ON FUNCTION app_bump_counters(text[], text[], date[], bigint[]) IS
  'Adds each delta to its counter (stats_counters when its day is NULL, stats_day_counters '
  'otherwise), summing repeated keys first; zero sums write nothing. Returns how many counters moved.';

CREATE OR REPLACE FUNCTION app_refresh_user_subscription_state(p_users uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_moved bigint;
BEGIN
  PERFORM 1 FROM users WHERE id = ANY(p_users) ORDER BY id FOR NO KEY UPDATE;
  WITH target AS (
      SELECT u.id, u.deleted_at,
             u.subscription_live_until AS old_live_until, u.has_expired_subscription AS old_has_expired,
             u.subscription_first_end AS old_first_end,
             (SELECT max(coalesce(s.ends_at, app_no_end())) FROM subscriptions s
               WHERE s.user_id = u.id AND app_is_entitled(s.status)) AS live_until,
             EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = u.id AND s.status = 'expired') AS has_expired,
             (SELECT min(s.ends_at) FROM subscriptions s
               WHERE s.user_id = u.id AND s.status <> 'expired') AS first_end
      FROM users u WHERE u.id = ANY(p_users)
  ), changed AS (
      UPDATE users u SET subscription_live_until = t.live_until, has_expired_subscription = t.has_expired,
                         subscription_first_end = t.first_end
      FROM target t
      WHERE u.id = t.id AND (t.old_live_until, t.old_has_expired, t.old_first_end)
                            IS DISTINCT FROM (t.live_until, t.has_expired, t.first_end)
      RETURNING t.*
  ), deltas AS (
      SELECT c.*, 1::bigint AS delta
      FROM changed, app_user_counts(deleted_at, live_until, has_expired, first_end) c
      UNION ALL
      SELECT c.*, -1
      FROM changed, app_user_counts(deleted_at, old_live_until, old_has_expired, old_first_end) c
  )
  SELECT app_bump_counters(array_agg(counter), array_agg(dimension), array_agg(day), array_agg(delta))
  INTO v_moved FROM deltas;
END $$;
COMMENT ON FUNCTION app_refresh_user_subscription_state(uuid[]) IS
  'Recomputes users.subscription_live_until, has_expired_subscription and subscription_first_end '
  'of these users from their subscriptions and moves the user counters accordingly.';

CREATE OR REPLACE FUNCTION app_subscriptions_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_users uuid[];
BEGIN
  -- Each branch names only the transition tables its trigger defines (PL/pgSQL plans a
  -- statement when it first runs it).
  IF TG_OP = 'INSERT' THEN
    PERFORM app_bump_counters(array_agg(c.counter), array_agg(c.dimension), array_agg(c.day),
                              array_agg(1::bigint))
    FROM new_rows n, app_subscription_counts(n.status, n.plan_name, n.ends_at) c;
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO v_users FROM new_rows WHERE user_id IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM app_bump_counters(array_agg(c.counter), array_agg(c.dimension), array_agg(c.day),
                              array_agg(-1::bigint))
    FROM old_rows o, app_subscription_counts(o.status, o.plan_name, o.ends_at) c;
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO v_users FROM old_rows WHERE user_id IS NOT NULL;
  ELSE
    PERFORM app_bump_counters(array_agg(c.counter), array_agg(c.dimension), array_agg(c.day), array_agg(d.delta))
    FROM (SELECT status, plan_name, ends_at, 1::bigint AS delta FROM new_rows
          UNION ALL SELECT status, plan_name, ends_at, -1 FROM old_rows) d,
         app_subscription_counts(d.status, d.plan_name, d.ends_at) c;
    -- Only a change of status, end or owner can change a user's subscription state.
    WITH moved AS (
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
  'After each statement on subscriptions: moves the subscription counters and refreshes the '
  'subscription state of the users concerned.';

CREATE OR REPLACE FUNCTION app_users_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counters(array_agg(c.counter), array_agg(c.dimension), array_agg(c.day),
                            array_agg(1::bigint))
  FROM new_rows n,
       app_user_counts(n.deleted_at, n.subscription_live_until, n.has_expired_subscription,
                       n.subscription_first_end) c;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_users_inserted() IS
  'After each INSERT on users: counts the new users in the user counters.';

CREATE OR REPLACE FUNCTION app_users_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counters(array_agg(c.counter), array_agg(c.dimension), array_agg(c.day),
                            array_agg(-1::bigint))
  FROM old_rows o,
       app_user_counts(o.deleted_at, o.subscription_live_until, o.has_expired_subscription,
                       o.subscription_first_end) c;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_users_deleted() IS
  'After each DELETE on users: uncounts the deleted users in the user counters.';

-- Row level, and only when deleted_at changes: heartbeats update users constantly and must not
-- pay for this (a statement trigger with transition tables cannot name columns).
CREATE OR REPLACE FUNCTION app_user_deleted_at_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counters(array_agg(c.counter), array_agg(c.dimension), array_agg(c.day), array_agg(d.delta))
  FROM (SELECT NEW.deleted_at, NEW.subscription_live_until, NEW.has_expired_subscription,
               NEW.subscription_first_end, 1::bigint
        UNION ALL
        SELECT OLD.deleted_at, OLD.subscription_live_until, OLD.has_expired_subscription,
               OLD.subscription_first_end, -1) AS d(deleted_at, live_until, has_expired, first_end, delta),
       app_user_counts(d.deleted_at, d.live_until, d.has_expired, d.first_end) c;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_user_deleted_at_changed() IS
  'When a user is soft-deleted or restored: moves the user counters.';

CREATE OR REPLACE FUNCTION app_visitor_sessions_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- track-visit upserts: a refreshed session is not in new_rows, so this is 0 and writes nothing.
  PERFORM app_bump_counters(ARRAY['visitors'], ARRAY[''], ARRAY[NULL::date], ARRAY[count(*)]) FROM new_rows;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_visitor_sessions_inserted() IS
  'After each INSERT on visitor_sessions: counts the new sessions in stats_counters.';

CREATE OR REPLACE FUNCTION app_visitor_sessions_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM app_bump_counters(ARRAY['visitors'], ARRAY[''], ARRAY[NULL::date], ARRAY[-count(*)]) FROM old_rows;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION app_visitor_sessions_deleted() IS
  'After each DELETE on visitor_sessions: uncounts the deleted sessions in stats_counters.';

-- From scratch: after a restore, or to check that the triggers kept the truth (a test does).
CREATE OR REPLACE FUNCTION app_rebuild_stats_counters() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  LOCK TABLE users, subscriptions, visitor_sessions IN SHARE MODE;
  UPDATE users u SET subscription_live_until = s.live_until, has_expired_subscription = s.has_expired,
                     subscription_first_end = s.first_end
  FROM (
    SELECT u2.id,
           max(coalesce(s2.ends_at, app_no_end())) FILTER (WHERE app_is_entitled(s2.status)) AS live_until,
           coalesce(bool_or(s2.status = 'expired'), false) AS has_expired,
           min(s2.ends_at) FILTER (WHERE s2.status <> 'expired') AS first_end
    FROM users u2 LEFT JOIN subscriptions s2 ON s2.user_id = u2.id GROUP BY u2.id) s
  WHERE u.id = s.id AND (u.subscription_live_until, u.has_expired_subscription, u.subscription_first_end)
                        IS DISTINCT FROM (s.live_until, s.has_expired, s.first_end);
  DELETE FROM stats_counters;
  DELETE FROM stats_day_counters;
  PERFORM app_bump_counters(array_agg(counter), array_agg(dimension), array_agg(day), array_agg(n))
  FROM (
    SELECT c.counter, c.dimension, c.day, count(*) AS n
    FROM users u,
         app_user_counts(u.deleted_at, u.subscription_live_until, u.has_expired_subscription,
                         u.subscription_first_end) c
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT c.counter, c.dimension, c.day, count(*)
    FROM subscriptions s, app_subscription_counts(s.status, s.plan_name, s.ends_at) c
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'visitors', '', NULL, count(*) FROM visitor_sessions
  ) AS all_counts;
END $$;
COMMENT ON FUNCTION app_rebuild_stats_counters() IS
  'Recomputes every stats_counters and stats_day_counters row and the users subscription-state '
  'columns from the tables.';
