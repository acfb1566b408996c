-- An invitee is not a member yet: this is how the accept/decline endpoints find the invitation.

CREATE OR REPLACE FUNCTION app_invitation_for_token(p_token_hash text)
RETURNS TABLE (id uuid, organization_id uuid, invitee_email text, status text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT i.id, i.organization_id, i.invitee_email, i.status, i.expires_at
  FROM invitations i WHERE i.token_hash = p_token_hash
$$;
COMMENT ON FUNCTION app_invitation_for_token(text) IS
  'The invitation matching a token hash, for invitees who are not members yet.';
