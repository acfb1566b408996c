-- Rate-limit counters (kit/ratelimit.py): the storage of the `limits` library's sliding window
-- counter, shared by every API process. The application role cannot read or write
-- rate_limit_counters (row-level security without a policy): these functions, running as the
-- owner (SECURITY DEFINER), are the only way in. A row holds one key's counts for its current
-- and previous windows of p_window_seconds (window n covers epoch seconds [n, n + 1) x length);
-- a key's weighted count at time t is previous x (1 - fraction of the current window elapsed)
-- + current, as limits computes it.

CREATE OR REPLACE FUNCTION app_rate_limit_acquire(
  p_key text, p_limit integer, p_window_seconds integer, p_amount integer
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_at double precision := extract(epoch FROM clock_timestamp()) / p_window_seconds;
  v_window bigint := floor(v_at);
  v_weight double precision := 1 - (v_at - floor(v_at));
BEGIN
  IF p_amount > p_limit THEN
    RETURN false;
  END IF;
  -- One statement: the row is locked by ON CONFLICT, so concurrent hits are counted one after
  -- the other and the check sees every earlier one. A refused hit changes nothing.
  INSERT INTO rate_limit_counters AS c
    (key, window_seconds, window_index, previous_count, current_count, expires_at)
  VALUES (p_key, p_window_seconds, v_window, 0, p_amount,
          to_timestamp((v_window + 2) * p_window_seconds::double precision))
  ON CONFLICT (key) DO UPDATE SET
    previous_count = CASE c.window_index WHEN v_window THEN c.previous_count
                                         WHEN v_window - 1 THEN c.current_count ELSE 0 END,
    current_count = CASE WHEN c.window_index = v_window THEN c.current_count ELSE 0 END + p_amount,
    window_index = v_window,
    window_seconds = p_window_seconds,
    expires_at = excluded.expires_at
  WHERE floor(
          CASE c.window_index WHEN v_window THEN c.previous_count
                              WHEN v_window - 1 THEN c.current_count ELSE 0 END * v_weight
          + CASE WHEN c.window_index = v_window THEN c.current_count ELSE 0 END
        ) + p_amount <= p_limit;
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION app_rate_limit_acquire(text, integer, integer, integer) IS
  'Counts p_amount hits of a key if its weighted count over the sliding window of p_window_seconds stays within p_limit; true when counted, false when refused (nothing counted).';

CREATE OR REPLACE FUNCTION app_rate_limit_window(p_key text, p_window_seconds integer)
RETURNS TABLE (previous_count bigint, previous_ttl_seconds double precision,
               current_count bigint, current_ttl_seconds double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  v_at double precision := extract(epoch FROM clock_timestamp()) / p_window_seconds;
  v_window bigint := floor(v_at);
  v_elapsed double precision := v_at - floor(v_at);
  v_previous bigint := 0;
  v_current bigint := 0;
BEGIN
  SELECT CASE c.window_index WHEN v_window THEN c.previous_count
                             WHEN v_window - 1 THEN c.current_count ELSE 0 END,
         CASE WHEN c.window_index = v_window THEN c.current_count ELSE 0 END
    INTO v_previous, v_current
    FROM rate_limit_counters c WHERE c.key = p_key;
  RETURN QUERY SELECT coalesce(v_previous, 0),
    CASE WHEN coalesce(v_previous, 0) = 0 THEN 0 ELSE (1 - v_elapsed) * p_window_seconds END,
    coalesce(v_current, 0),
    (1 - v_elapsed) * p_window_seconds + p_window_seconds;
END
$$;
COMMENT ON FUNCTION app_rate_limit_window(text, integer) IS
  'A key''s counts in the previous and current windows of p_window_seconds, and the seconds each has left to count (limits'' get_sliding_window).';

CREATE OR REPLACE FUNCTION app_rate_limit_add(
  p_keys text[], p_windows bigint[], p_window_seconds integer[], p_amounts integer[]
) RETURNS TABLE (key text, window_index bigint, previous_count bigint, current_count bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  -- Hits a process admitted on its own since its last call (the buffered storage of the hot
  -- paths), written unconditionally; the answer is every given key's counts after the writes,
  -- which the process decides with until its next call. An amount of 0 only reads.
  RETURN QUERY WITH written AS (
  INSERT INTO rate_limit_counters AS c
    (key, window_seconds, window_index, previous_count, current_count, expires_at)
  SELECT d.key, d.seconds, d.window_index, 0, d.amount,
         to_timestamp((d.window_index + 2) * d.seconds::double precision)
  FROM unnest(p_keys, p_windows, p_window_seconds, p_amounts) AS d(key, window_index, seconds, amount)
  ON CONFLICT ON CONSTRAINT pk_rate_limit_counters DO UPDATE SET
    previous_count = CASE
      WHEN excluded.window_index = c.window_index THEN c.previous_count
      WHEN excluded.window_index = c.window_index + 1 THEN c.current_count
      WHEN excluded.window_index = c.window_index - 1 THEN c.previous_count + excluded.current_count
      WHEN excluded.window_index > c.window_index THEN 0
      ELSE c.previous_count END,
    current_count = CASE
      WHEN excluded.window_index = c.window_index THEN c.current_count + excluded.current_count
      WHEN excluded.window_index > c.window_index THEN excluded.current_count
      ELSE c.current_count END,
    window_index = greatest(c.window_index, excluded.window_index),
    window_seconds = excluded.window_seconds,
    expires_at = greatest(c.expires_at, excluded.expires_at)
  RETURNING c.key, c.window_index, c.previous_count, c.current_count)
  SELECT * FROM written;
END
$$;
COMMENT ON FUNCTION app_rate_limit_add(text[], bigint[], integer[], integer[]) IS
  'Adds hits counted by a process on its own (key, window index, window length, amount; several rows for one key must not be given in one call) and returns each key''s window and counts after the writes.';

CREATE OR REPLACE FUNCTION app_rate_limit_clear(p_key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  DELETE FROM rate_limit_counters c WHERE c.key = p_key;
END
$$;
COMMENT ON FUNCTION app_rate_limit_clear(text) IS
  'Forgets a key''s counts (after a successful sign-in, its failed attempts from that source).';

CREATE OR REPLACE FUNCTION app_rate_limit_purge() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_deleted bigint;
BEGIN
  DELETE FROM rate_limit_counters c WHERE c.expires_at < now();
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  RETURN v_deleted;
END
$$;
COMMENT ON FUNCTION app_rate_limit_purge() IS
  'Deletes the counters whose windows are over (the hourly upkeep job); returns how many.';
