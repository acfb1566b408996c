-- Incremental grouping of accounts by shared identifier hashes (trust/clusters.py, docs/trust.md).
-- Sign-up, sign-in, dashboard registration and a saved card call app_trust_observe in the
-- request's own transaction and context. account_clusters is service-only under row-level
-- security, so this function (running as the owner) is the user's only way in, and it records
-- only the calling user's own signals (or any, for the service context).
--
-- One statement per identifier: an upsert on the unique (identifier_hash, cluster_type). Two
-- sign-ups from one device at once: the second waits on the first's uncommitted row, then joins
-- it (ON CONFLICT re-checks after the first commits), so they end in one cluster, never two.
-- A cluster stops growing at 500 members; an IP cluster with trust.clusters.shared_network_members
-- accounts or more (system setting, default 25) is marked a shared network and stops growing too.

CREATE OR REPLACE FUNCTION app_trust_observe(p_user_id uuid, p_cluster_types text[], p_hashes text[])
RETURNS TABLE (cluster_id uuid, cluster_type text, member_count integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  v_shared integer := coalesce((
    SELECT (value ->> 'shared_network_members')::integer FROM system_settings
    WHERE key = 'trust.clusters' AND jsonb_typeof(value -> 'shared_network_members') = 'number'), 25);
BEGIN
  IF p_user_id IS NULL OR NOT ((SELECT app_is_service()) OR p_user_id = app_user_id()) THEN
    RAISE EXCEPTION 'app_trust_observe: only the acting user''s own signals' USING ERRCODE = '42501';
  END IF;
  RETURN QUERY
  INSERT INTO account_clusters AS c (cluster_type, identifier_hash, user_ids)
  SELECT DISTINCT ON (s.hash, s.kind) s.kind, s.hash, ARRAY[p_user_id]
  FROM unnest(p_cluster_types, p_hashes) AS s(kind, hash)
  WHERE s.hash IS NOT NULL AND s.hash <> ''
    -- A plain read first: a member signing in again, or anyone behind a shared network, takes no
    -- row lock (ON CONFLICT would lock the row even to do nothing).
    AND NOT EXISTS (SELECT 1 FROM account_clusters e
                    WHERE e.identifier_hash = s.hash AND e.cluster_type = s.kind
                      AND (p_user_id = ANY (e.user_ids) OR e.is_shared_network OR cardinality(e.user_ids) >= 500))
  -- Rows are locked in (hash, type) order, here and in the bulk grouping: no deadlock between them.
  ORDER BY s.hash, s.kind
  ON CONFLICT (identifier_hash, cluster_type) DO UPDATE SET
    user_ids = c.user_ids || p_user_id,
    first_detected_at = coalesce(c.first_detected_at, now()),
    last_joined_at = now(),
    is_shared_network = c.is_shared_network
      OR (c.cluster_type = 'ip_hash' AND cardinality(c.user_ids) + 1 >= v_shared),
    -- A new member reopens a reviewed cluster: the review was about the accounts it had.
    is_reviewed = false,
    assessed_at = NULL,
    updated_at = now()
  WHERE NOT (p_user_id = ANY (c.user_ids)) AND NOT c.is_shared_network AND cardinality(c.user_ids) < 500
  RETURNING c.id, c.cluster_type, c.member_count;
END
$$;
COMMENT ON FUNCTION app_trust_observe(uuid, text[], text[]) IS
  'Records that a user was seen with identifier hashes (cluster types and hashes, pairwise): joins '
  'or starts each identifier''s account_clusters row; returns the rows that changed. Only the '
  'acting user''s own signals, or any in the service context.';

-- The restrictions trust actions put on an account (trust/actions.py), for the domains that
-- enforce them in the user's own context (billing's subscribe: no trial, or a card first):
-- abuse_patterns is service-only, so this function answers only what those domains need.
CREATE OR REPLACE FUNCTION app_trust_restrictions(p_user_id uuid) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce(array_agg(DISTINCT p.action_taken ORDER BY p.action_taken), '{}')
  FROM abuse_patterns p
  WHERE p.user_id = p_user_id AND p.action_taken IN ('trial_blocked', 'card_required')
    AND ((SELECT app_is_service()) OR p_user_id = app_user_id())
$$;
COMMENT ON FUNCTION app_trust_restrictions(uuid) IS
  'The restrictions in force on an account (trial_blocked, card_required) from its abuse patterns; '
  'only for the acting user or the service context (empty otherwise).';

-- Erasure (privacy/registry.py, service only): the person leaves every cluster; a cluster left
-- with fewer than two accounts is no cluster any more and goes, with its identifier hash (which
-- then named the person alone). A hash shared by two or more other accounts stays: theirs too.
CREATE OR REPLACE FUNCTION app_trust_forget(p_values text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public AS $$
DECLARE
  v_ids uuid[] := ARRAY(SELECT CAST(v AS uuid) FROM unnest(p_values) v);
  v_emptied uuid[];
  v_rows integer;
BEGIN
  WITH changed AS (
    UPDATE account_clusters c
    SET user_ids = ARRAY(SELECT u FROM unnest(c.user_ids) u WHERE u <> ALL (v_ids)),
        cleared_user_ids = ARRAY(SELECT u FROM unnest(c.cleared_user_ids) u WHERE u <> ALL (v_ids)),
        assessed_at = NULL, updated_at = now()
    WHERE c.user_ids && v_ids OR c.cleared_user_ids && v_ids
    RETURNING c.id, cardinality(c.user_ids) AS remaining
  )
  SELECT coalesce(array_agg(id) FILTER (WHERE remaining < 2), '{}'), count(*)
  INTO v_emptied, v_rows FROM changed;
  -- A statement of its own: a DELETE beside the UPDATE would not see the rows it changed.
  DELETE FROM account_clusters WHERE id = ANY (v_emptied);
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION app_trust_forget(text[]) IS
  'Erasure: removes the accounts from every cluster and drops the clusters they leave with fewer '
  'than two accounts.';
