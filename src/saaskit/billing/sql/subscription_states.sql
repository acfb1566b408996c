-- What a subscription's status and end mean, in one place for SQL. Python's twin is
-- billing/models/subscriptions.ENTITLED_STATUSES; tests/billing/test_states.py checks they agree.

CREATE OR REPLACE FUNCTION app_is_entitled(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_status IN ('trialing', 'active', 'past_due')
$$;
COMMENT ON FUNCTION app_is_entitled(text) IS
  'The statuses that grant the plan''s tier: trialing, active and past_due (Stripe is still '
  'retrying the payment).';

-- The expiry job (billing.daily) turns an entitled subscription whose end has passed into
-- 'expired' once a day; until it runs, everything that shows subscriptions reads the state.
CREATE OR REPLACE FUNCTION app_subscription_state(p_status text, p_ends_at timestamptz, p_at timestamptz)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN app_is_entitled(p_status) AND p_ends_at <= p_at THEN 'expired' ELSE p_status END
$$;
COMMENT ON FUNCTION app_subscription_state(text, timestamptz, timestamptz) IS
  'A subscription''s state at p_at: its status, except that an entitled one whose end has passed '
  'is expired. Each subscription has exactly one state (the admin billing page, the statistics'' '
  'subscriptionsByState).';
