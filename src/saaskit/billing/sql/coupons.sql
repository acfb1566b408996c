-- Customers may not write the catalog, yet redeeming a coupon must count: this function does
-- the count as the owner, atomically (concurrent claims queue on the row lock and re-check).

CREATE OR REPLACE FUNCTION app_claim_coupon(p_coupon_id uuid) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH claimed AS (
    UPDATE coupons SET times_redeemed = times_redeemed + 1, updated_at = now()
    WHERE id = p_coupon_id AND is_active
      AND (valid_from IS NULL OR valid_from <= now())
      AND (valid_until IS NULL OR valid_until > now())
      AND (max_redemptions IS NULL OR times_redeemed < max_redemptions)
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM claimed)
$$;
COMMENT ON FUNCTION app_claim_coupon(uuid) IS
  'Counts one redemption of a coupon if it is active, in its window and under max_redemptions.';
