-- The row-level-security context (kit/db.py): transaction-local settings read by every policy
-- through these functions. Unset, they match nothing: a policy written with them fails closed.
--
-- app.user_id and app.organization_id are written with set_config(..., true). app.service is
-- different: the application role may write any value into it, so its value alone proves
-- nothing. It counts only when it equals the seal that app_enter_service() computes from
-- context_keys.seal_key (which only the owner can read), the backend's pid and the transaction's
-- start: a value no SQL run as the application role can compute or carry into another
-- transaction. app_enter_service() writes it only for a caller who gives the server's service
-- key (its SHA-256 is in context_keys.service_key_hash). Policies call app_is_service() as
-- (SELECT app_is_service()) so the check runs once per statement, not once per row. PARALLEL
-- RESTRICTED: the check runs in the leader (its pid is the one sealed), and queries stay parallel.

CREATE OR REPLACE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
COMMENT ON FUNCTION app_user_id() IS 'RLS context: the signed-in user of this transaction, or NULL.';
CREATE OR REPLACE FUNCTION app_organization_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.organization_id', true), '')::uuid $$;
COMMENT ON FUNCTION app_organization_id() IS 'RLS context: the organization this transaction acts for, or NULL.';

-- Needs no privilege (the key is its argument, and only the owner's functions can read it), so it
-- is a plain SQL function, inlined where the two functions below call it.
CREATE OR REPLACE FUNCTION app_service_seal(p_seal_key text) RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
  SELECT encode(sha256(convert_to(
    p_seal_key || '/' || pg_backend_pid()::text || '/' || extract(epoch FROM transaction_timestamp())::text,
    'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION app_service_seal(text) IS
  'The value of app.service that means "service" in this backend and transaction, for a seal key.';

CREATE OR REPLACE FUNCTION app_enter_service(p_service_key text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_keys context_keys%ROWTYPE;
BEGIN
  IF coalesce(p_service_key, '') = '' THEN
    RETURN set_config('app.service', '', true);
  END IF;
  SELECT * INTO v_keys FROM context_keys WHERE id = 1;
  IF v_keys.service_key_hash IS NULL
     OR encode(sha256(convert_to(p_service_key, 'UTF8')), 'hex') <> v_keys.service_key_hash THEN
    RAISE EXCEPTION 'the service context needs the server''s service key' USING ERRCODE = '42501';
  END IF;
  PERFORM set_config('app.service', app_service_seal(v_keys.seal_key), true);
  RETURN 'on';
END
$$;
COMMENT ON FUNCTION app_enter_service(text) IS
  'Turns the service context on for this transaction given the server''s service key (else error); '''' turns it off.';

CREATE OR REPLACE FUNCTION app_service_sealed() RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN coalesce((SELECT current_setting('app.service', true) = app_service_seal(k.seal_key)
                   FROM context_keys k WHERE k.id = 1), false);
END
$$;
COMMENT ON FUNCTION app_service_sealed() IS
  'True when app.service holds this transaction''s seal, i.e. app_enter_service() was given the key.';

CREATE OR REPLACE FUNCTION app_is_service() RETURNS boolean LANGUAGE sql STABLE PARALLEL RESTRICTED AS
  $$ SELECT coalesce(current_setting('app.service', true), '') <> '' AND coalesce(app_service_sealed(), false) $$;
COMMENT ON FUNCTION app_is_service() IS
  'RLS context: true for jobs and platform admins (who see every row) when app.service is sealed.';
