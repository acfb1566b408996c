-- Time partitions of the analytics tables (tracking/partitions.py) are created and dropped by the
-- partition job through these owner-run functions: the application role owns no table.

CREATE OR REPLACE FUNCTION app_ensure_partition(p_parent text, p_name text, p_from timestamptz, p_to timestamptz)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_column text;
BEGIN
  IF p_parent NOT IN ('events', 'page_views', 'activity_events', 'widget_analytics', 'system_events',
                      'error_logs', 'performance_metrics', 'activities') THEN
    RAISE EXCEPTION 'not a partitioned analytics table: %', p_parent;
  END IF;
  IF p_name !~ ('^' || p_parent || '_y[0-9]{4}m[0-9]{2}(d[0-9]{2})?$') OR p_from >= p_to THEN
    RAISE EXCEPTION 'bad partition % [%, %)', p_name, p_from, p_to;
  END IF;
  IF to_regclass('public.' || quote_ident(p_name)) IS NOT NULL THEN
    RETURN false;
  END IF;
  SELECT a.attname INTO v_column FROM pg_partitioned_table pt
    JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = ('public.' || quote_ident(p_parent))::regclass;
  -- A standalone table first: rows of the range waiting in the DEFAULT partition move into it,
  -- then it is attached (attaching would fail while DEFAULT still held them).
  EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                 p_name, p_parent);
  IF to_regclass('public.' || quote_ident(p_parent || '_default')) IS NOT NULL THEN
    EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                   'INSERT INTO public.%I SELECT * FROM moved', p_parent || '_default', v_column, v_column, p_name)
      USING p_from, p_to;
  END IF;
  EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                 p_parent, p_name, p_from, p_to);
  EXECUTE format('COMMENT ON TABLE public.%I IS %L', p_name,
                 format('Rows of %s from %s to %s (UTC).', p_parent, p_from AT TIME ZONE 'UTC', p_to AT TIME ZONE 'UTC'));
  RETURN true;
END $$;
COMMENT ON FUNCTION app_ensure_partition(text, text, timestamptz, timestamptz) IS
  'Create one time partition of an analytics table or of the audit log (idempotent); used by the partition job.';

CREATE OR REPLACE FUNCTION app_drop_partition(p_parent text, p_name text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF p_name !~ ('^' || p_parent || '_y[0-9]{4}m[0-9]{2}(d[0-9]{2})?$') OR NOT EXISTS (
      SELECT 1 FROM pg_inherits i
      WHERE i.inhrelid = to_regclass('public.' || quote_ident(p_name))
        AND i.inhparent = to_regclass('public.' || quote_ident(p_parent))) THEN
    RETURN false;
  END IF;
  EXECUTE format('DROP TABLE public.%I', p_name);
  RETURN true;
END $$;
COMMENT ON FUNCTION app_drop_partition(text, text) IS
  'Drop one time partition of an analytics table (retention); used by the partition job.';

-- Capture keys are public but stored hashed; the capturing client is no member of anything.
CREATE OR REPLACE FUNCTION app_ingestion_key_organization(p_key_hash text)
RETURNS uuid LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH found AS (
    SELECT k.id, k.organization_id, k.last_used_at FROM ingestion_keys k
    JOIN organizations o ON o.id = k.organization_id AND o.deleted_at IS NULL
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
  ), touched AS (
    UPDATE ingestion_keys k SET last_used_at = now() FROM found f
    WHERE k.id = f.id AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')
  )
  SELECT organization_id FROM found
$$;
COMMENT ON FUNCTION app_ingestion_key_organization(text) IS
  'The organization of a live ingestion key (by its SHA-256), or NULL.';
