-- The bookings domain's rules that must hold whoever writes (docs/bookings.md).

-- A booking line's quantity stays within its service's min_items and max_items, whatever writes it.
CREATE OR REPLACE FUNCTION app_booking_items_check_quantity() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  lowest integer;
  highest integer;
BEGIN
  SELECT min_items, max_items INTO lowest, highest FROM services WHERE id = NEW.service_id;
  IF lowest IS NOT NULL AND NEW.quantity NOT BETWEEN lowest AND highest THEN
    RAISE EXCEPTION 'quantity % is outside the service''s limits (% to %)', NEW.quantity, lowest, highest
      USING ERRCODE = 'check_violation', COLUMN = 'quantity', TABLE = 'booking_items';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION app_booking_items_check_quantity() IS
  'Trigger: refuses a booking_items row whose quantity is outside its service''s min_items..max_items.';

CREATE OR REPLACE TRIGGER booking_items_check_quantity
  BEFORE INSERT OR UPDATE OF quantity, service_id ON booking_items
  FOR EACH ROW EXECUTE FUNCTION app_booking_items_check_quantity();
COMMENT ON TRIGGER booking_items_check_quantity ON booking_items IS
  'Keeps quantity within the service''s item limits (app_booking_items_check_quantity).';

-- Numbering and capacity for a new booking, under one lock per organization: the next booking
-- number (no gaps, no duplicates) and the delivery day, or NULL sequence when the pickup day of the
-- service is full. Customers cannot count other customers' bookings, so this runs as the owner
-- (for a signed-in user or the service context only).
CREATE OR REPLACE FUNCTION app_claim_booking_slot(
  p_organization_id uuid, p_service_id uuid, p_pickup_date date,
  OUT booking_sequence integer, OUT delivery_date date, OUT pickups_taken integer, OUT capacity integer
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  days integer;
  day date;
  taken integer;
BEGIN
  IF NOT (app_is_service() OR app_user_id() IS NOT NULL) THEN
    RAISE EXCEPTION 'app_claim_booking_slot: sign in first' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('bookings:' || p_organization_id::text, 0));
  SELECT s.daily_capacity, s.processing_days INTO capacity, days
  FROM services s WHERE s.id = p_service_id AND s.organization_id = p_organization_id AND s.deleted_at IS NULL;
  IF capacity IS NULL THEN
    RETURN;
  END IF;
  SELECT count(*) INTO pickups_taken FROM bookings b
  WHERE b.service_id = p_service_id AND b.pickup_date = p_pickup_date AND b.deleted_at IS NULL
    AND b.status NOT IN ('cancelled', 'refunded');
  IF pickups_taken >= capacity THEN
    RETURN;
  END IF;
  day := p_pickup_date + days;
  LOOP
    SELECT count(*) INTO taken FROM bookings b
    WHERE b.service_id = p_service_id AND b.delivery_date = day AND b.deleted_at IS NULL
      AND b.status NOT IN ('cancelled', 'refunded');
    EXIT WHEN taken < capacity OR day > p_pickup_date + days + 60;
    day := day + 1;
  END LOOP;
  delivery_date := day;
  SELECT coalesce(max(b.booking_sequence), 0) + 1 INTO booking_sequence
  FROM bookings b WHERE b.organization_id = p_organization_id;
END
$$;
COMMENT ON FUNCTION app_claim_booking_slot(uuid, uuid, date) IS
  'Under the organization''s booking lock: next booking sequence and delivery day, or NULL sequence when the service''s pickup day is full.';

-- A customer uses one earned free collection (true), or has none left (false). Atomic.
CREATE OR REPLACE FUNCTION app_loyalty_use_free_collection(p_organization_id uuid, p_user_id uuid)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH used AS (
    UPDATE loyalty_rewards SET free_collections_used = free_collections_used + 1, updated_at = now()
    WHERE organization_id = p_organization_id AND user_id = p_user_id
      AND free_collections_used < free_collections_earned
      AND (app_is_service() OR app_organization_id() = p_organization_id OR p_user_id = app_user_id())
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM used)
$$;
COMMENT ON FUNCTION app_loyalty_use_free_collection(uuid, uuid) IS
  'Records the use of one earned free collection; false when none is left.';

-- A cancelled booking gives its free collection back.
CREATE OR REPLACE FUNCTION app_loyalty_return_free_collection(p_organization_id uuid, p_user_id uuid)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE loyalty_rewards SET free_collections_used = free_collections_used - 1, updated_at = now()
  WHERE organization_id = p_organization_id AND user_id = p_user_id AND free_collections_used > 0
    AND (app_is_service() OR app_organization_id() = p_organization_id OR p_user_id = app_user_id())
$$;
COMMENT ON FUNCTION app_loyalty_return_free_collection(uuid, uuid) IS
  'Gives back one used free collection (its booking was cancelled).';

-- A delivered booking counts: one more completed order, and one more free collection earned every
-- p_every orders. One statement, so concurrent deliveries count exactly.
CREATE OR REPLACE FUNCTION app_loyalty_count_order(p_organization_id uuid, p_user_id uuid, p_every integer)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  INSERT INTO loyalty_rewards AS l (organization_id, user_id, completed_orders, free_collections_earned)
  SELECT p_organization_id, p_user_id, 1, 1 / p_every
  WHERE app_is_service() OR app_organization_id() = p_organization_id
  ON CONFLICT (organization_id, user_id) DO UPDATE
    SET completed_orders = l.completed_orders + 1,
        free_collections_earned = l.free_collections_earned
          + CASE WHEN (l.completed_orders + 1) % p_every = 0 THEN 1 ELSE 0 END,
        updated_at = now()
  RETURNING completed_orders
$$;
COMMENT ON FUNCTION app_loyalty_count_order(uuid, uuid, integer) IS
  'Counts one delivered order for a customer; every p_every-th earns a free collection. Returns the count.';
