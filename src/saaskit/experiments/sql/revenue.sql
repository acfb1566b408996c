-- Revenue per assignment for an experiment's revenue metric: what each assigned person paid
-- (paid invoices in one currency, after their assignment). Invoices are their payer's rows under
-- row-level security, so an organization admin reading results could not sum other members'
-- invoices; this function answers only the aggregate per assignment, and only for an experiment
-- of the organization the transaction acts for. An anonymous assignment counts the user its
-- distinct id (or any id of the same person) was later linked to.

CREATE OR REPLACE FUNCTION app_experiment_revenue(
  p_experiment_id uuid, p_currency text, p_until timestamptz
)
RETURNS TABLE (assignment_id uuid, revenue_cents bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH subject AS (
    SELECT a.id, a.assigned_at, COALESCE(a.user_id, (
             SELECT t.user_id FROM tracking_identities t
             WHERE t.organization_id = a.organization_id
               AND t.distinct_id IN (
                 SELECT a.distinct_id
                 UNION
                 SELECT d2.distinct_id FROM person_distinct_ids d1
                 JOIN person_distinct_ids d2 ON d2.person_id = d1.person_id
                 WHERE d1.organization_id = a.organization_id AND d1.distinct_id = a.distinct_id)
             ORDER BY t.created_at LIMIT 1)) AS user_id
    FROM experiment_assignments a
    JOIN experiments x ON x.id = a.experiment_id
    WHERE a.experiment_id = p_experiment_id
      AND (x.organization_id = app_organization_id() OR (SELECT app_is_service()))
  )
  SELECT s.id, sum(i.amount_paid_cents)::bigint
  FROM subject s
  JOIN invoices i ON i.user_id = s.user_id
  WHERE i.status = 'paid' AND i.currency = p_currency
    AND i.paid_at >= s.assigned_at AND i.paid_at <= p_until
  GROUP BY s.id
$$;
COMMENT ON FUNCTION app_experiment_revenue(uuid, text, timestamptz) IS
  'Paid invoice cents per assignment of an experiment of the current organization (revenue metric).';
