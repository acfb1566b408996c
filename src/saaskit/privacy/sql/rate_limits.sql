-- rate_limit_counters has no policy for the application role (kit/ratelimit.py): this is how
-- the erasure forgets the counters keyed by a person's id or address hash.

CREATE OR REPLACE FUNCTION app_forget_rate_limits(p_values text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_rows integer;
BEGIN
  IF NOT app_is_service() THEN
    RAISE EXCEPTION 'only the service context erases' USING ERRCODE = '42501';
  END IF;
  DELETE FROM rate_limit_counters c
  WHERE EXISTS (SELECT 1 FROM unnest(p_values) v WHERE v <> '' AND strpos(c.key, v) > 0);
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION app_forget_rate_limits(text[]) IS
  'Erasure (service only): deletes the rate-limit counters whose key contains one of the values (a person''s id, address hashes).';
