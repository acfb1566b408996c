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
