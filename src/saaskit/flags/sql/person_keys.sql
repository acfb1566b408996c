-- Who each linked distinct id is, for statistics that count people (funnels, retention,
-- experiments): the saaskit user any id of its PostHog person was identified as
-- (tracking_identities), else the person ('person:<uuid>'). Statistics key a person as
-- coalesce(events.user_id::text, person_keys.person, events.distinct_id), so the events an
-- anonymous id sent before $identify / $create_alias linked it count for the same person as
-- the events sent after, whenever the link arrives. Ids never linked are not here (the
-- distinct id is its own person). security_invoker: the caller's row-level security applies.

CREATE OR REPLACE VIEW person_keys WITH (security_invoker = true) AS
  SELECT d.organization_id, d.distinct_id,
         coalesce((SELECT t.user_id::text FROM person_distinct_ids d2
                   JOIN tracking_identities t
                     ON t.organization_id = d2.organization_id AND t.distinct_id = d2.distinct_id
                   WHERE d2.person_id = d.person_id
                   ORDER BY t.created_at, t.distinct_id LIMIT 1),
                  'person:' || d.person_id::text) AS person
  FROM person_distinct_ids d
  UNION ALL
  SELECT t.organization_id, t.distinct_id, t.user_id::text
  FROM tracking_identities t
  WHERE NOT EXISTS (SELECT 1 FROM person_distinct_ids d
                    WHERE d.organization_id = t.organization_id AND d.distinct_id = t.distinct_id);
COMMENT ON VIEW person_keys IS
  'Each linked distinct id''s person for statistics: the identified user''s id, else person:<uuid>.';
COMMENT ON COLUMN person_keys.organization_id IS 'Organization whose capture linked the id.';
COMMENT ON COLUMN person_keys.distinct_id IS 'A linked distinct id.';
COMMENT ON COLUMN person_keys.person IS 'Its person: the identified user''s id as text, else person:<persons.id>.';
