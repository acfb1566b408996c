-- Per-source, per-minute tallies for the API-abuse rules (kit/tallies.py, trust/api_abuse.py,
-- docs/trust.md). Each process buffers its counts (failed sign-ins, rate-limit refusals, ingested
-- events) and writes them at most once a second in one call of app_trust_tally, from a connection
-- with no RLS context (an anonymous sign-in, the capture endpoint): abuse_source_tallies is
-- service-only, so this function, running as the owner, is the only way in. It only adds counts
-- (it reads nothing back), so a caller learns nothing from it. A user id that is not (or no
-- longer) an account is dropped, not an error: the batch is never lost for one row.

CREATE OR REPLACE FUNCTION app_trust_tally(
  p_kinds text[], p_sources text[], p_subjects text[], p_users uuid[], p_minutes timestamptz[],
  p_counts bigint[]
) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_rows integer;
BEGIN
  INSERT INTO abuse_source_tallies AS t (kind, source_hash, subject, minute, user_id, count)
  SELECT d.kind, d.source, coalesce(d.subject, ''), date_trunc('minute', d.minute),
         (array_agg(u.id) FILTER (WHERE u.id IS NOT NULL))[1], sum(d.n)
  FROM unnest(p_kinds, p_sources, p_subjects, p_users, p_minutes, p_counts)
    AS d(kind, source, subject, user_id, minute, n)
  LEFT JOIN users u ON u.id = d.user_id
  WHERE d.source IS NOT NULL AND d.source <> '' AND d.n > 0
  GROUP BY 1, 2, 3, 4
  -- One row per key and call: rows are sorted so that two processes lock them in one order.
  ORDER BY 1, 2, 3, 4
  ON CONFLICT (kind, source_hash, subject, minute) DO UPDATE SET
    count = t.count + excluded.count,
    user_id = coalesce(t.user_id, excluded.user_id);
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION app_trust_tally(text[], text[], text[], uuid[], timestamptz[], bigint[]) IS
  'Adds per-source, per-minute counts (kind, source hash, subject, user, minute, count: arrays taken '
  'pairwise) to abuse_source_tallies; returns the rows written.';
