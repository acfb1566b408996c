-- The audit log (activities) is append-only for the application role (kit/migrations.py): these
-- two functions are the only changes it may make, both for the service context alone (the
-- erasure and retention jobs), so no request can rewrite history.

CREATE OR REPLACE FUNCTION app_pseudonymise_activities(
  p_user_id uuid, p_pseudonym uuid, p_hashes text[], p_plain text[], p_patterns text[]
) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_total integer := 0;
  v_rows integer;
  i integer;
BEGIN
  IF NOT app_is_service() THEN
    RAISE EXCEPTION 'only the service context erases' USING ERRCODE = '42501';
  END IF;
  UPDATE activities SET actor_id = NULL, ip_address_hash = NULL WHERE actor_id = p_user_id;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  v_total := v_total + v_rows;
  UPDATE activities SET entity_id = p_pseudonym, entity_name = '[erased]'
  WHERE entity_id = p_user_id AND entity_type = 'user';
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  v_total := v_total + v_rows;
  -- The id inside free text (a metadata key naming the user): the pseudonym, so rows stay linked.
  UPDATE activities SET
    description = replace(description, CAST(p_user_id AS text), CAST(p_pseudonym AS text)),
    metadata = CAST(replace(CAST(metadata AS text), CAST(p_user_id AS text), CAST(p_pseudonym AS text)) AS jsonb)
  WHERE strpos(coalesce(description, '') || CAST(metadata AS text), CAST(p_user_id AS text)) > 0;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  v_total := v_total + v_rows;
  UPDATE activities SET ip_address_hash = NULL WHERE ip_address_hash = ANY(p_hashes);
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  v_total := v_total + v_rows;
  FOR i IN 1 .. coalesce(array_length(p_plain, 1), 0) LOOP
    UPDATE activities SET
      entity_name = regexp_replace(entity_name, p_patterns[i], '[erased]', 'gi'),
      description = regexp_replace(description, p_patterns[i], '[erased]', 'gi'),
      metadata = CAST(regexp_replace(CAST(metadata AS text), p_patterns[i], '[erased]', 'gi') AS jsonb)
    WHERE strpos(lower(coalesce(entity_name, '') || ' ' || coalesce(description, '') || ' '
                       || coalesce(CAST(metadata AS text), '')), lower(p_plain[i])) > 0;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_total + v_rows;
  END LOOP;
  RETURN v_total;
END
$$;
COMMENT ON FUNCTION app_pseudonymise_activities(uuid, uuid, text[], text[], text[]) IS
  'Erasure (service only): the audit rows of and about a person keep the act, the person replaced by a pseudonym; free text scrubbed of the given needles (plain text and its regular expression).';

CREATE OR REPLACE FUNCTION app_trim_activities(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_rows bigint;
BEGIN
  IF NOT app_is_service() THEN
    RAISE EXCEPTION 'only the service context trims the audit log' USING ERRCODE = '42501';
  END IF;
  DELETE FROM activities WHERE created_at < p_before;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION app_trim_activities(timestamptz) IS
  'Retention (service only): deletes audit rows older than the given time (SAASKIT_PRIVACY_ACTIVITIES_YEARS).';
