-- App versions (devices/versions.py). Versions compare as integer arrays: "1.10" > "1.9",
-- "1.2" = "1.2.0", and a suffix ("-beta", "+42") is ignored. The API accepts only strings of that
-- shape (VERSION_PATTERN).

CREATE OR REPLACE FUNCTION app_version_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT string_to_array(
           regexp_replace(substring(version FROM '^[0-9]{1,9}(?:\.[0-9]{1,9})*'), '(\.0+)+$', ''),
           '.')::integer[]
$$;
COMMENT ON FUNCTION app_version_key(text) IS
  'Sort key of an app version: its leading numbers as an integer array, trailing zeros dropped '
  '(1.2.0 -> {1,2}); NULL when the text does not start with a number.';
CREATE OR REPLACE FUNCTION app_version_below(version text, required text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(app_version_key(version) < app_version_key(required), false)
$$;
COMMENT ON FUNCTION app_version_below(text, text) IS
  'True when version is older than required; false when either is NULL or not a version.';
CREATE OR REPLACE FUNCTION app_required_version(setting text, device_type text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT value #>> '{}' FROM system_settings
  WHERE key IN (setting, setting || '.' || device_type) AND jsonb_typeof(value) = 'string'
  ORDER BY length(key) DESC LIMIT 1
$$;
COMMENT ON FUNCTION app_required_version(text, text) IS
  'The version kept in system_settings under setting (app.latest_version, app.minimum_version), '
  'or under setting.<device_type> when that platform has its own.';

-- The two rules of forced updates and reloads (devices/versions.py), used by the heartbeat, the
-- version check and the admin's "require update" alike.
CREATE OR REPLACE FUNCTION app_below_minimum(p_version text, p_device_type text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT app_version_below(p_version, app_required_version('app.minimum_version', p_device_type))
$$;
COMMENT ON FUNCTION app_below_minimum(text, text) IS
  'Whether a device of this type running p_version needs an update: older than the minimum '
  'version for its platform (app.minimum_version[.<device_type>]).';

CREATE OR REPLACE FUNCTION app_needs_update(p_flag boolean, p_previous text, p_version text, p_device_type text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_version IS NULL OR (p_version = p_previous AND NOT p_flag) THEN p_flag
              ELSE app_below_minimum(p_version, p_device_type) END
$$;
COMMENT ON FUNCTION app_needs_update(boolean, text, text, text) IS
  'A device''s needs_update once it reports p_version (was p_previous, flagged p_flag): unchanged '
  'without a version, or when an unflagged device reports the same version again (the heartbeat''s '
  'shortcut: "require update" re-evaluates every device when the minimum moves); otherwise whether '
  'it is below the minimum. Pass p_previous NULL to always re-evaluate.';

CREATE OR REPLACE FUNCTION app_needs_reload(p_flag boolean, p_version text, p_device_type text)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_flag AND p_version IS NOT NULL
              THEN app_version_below(p_version, app_required_version('app.latest_version', p_device_type))
              ELSE p_flag END
$$;
COMMENT ON FUNCTION app_needs_reload(boolean, text, text) IS
  'A user''s needs_reload once an app of this type reports p_version: a forced reload lasts until '
  'the app runs at least the latest version for its platform (app.latest_version[.<device_type>]).';
