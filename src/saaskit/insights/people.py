"""Who a person is in statistics that count people (funnels, retention): one definition.

A person is the event's user when set; else, when its distinct id was linked
(``$identify``, ``$create_alias``, an identified e-mail), the person of that link
(``person_keys``, flags/sql/person_keys.sql: the identified user, else the PostHog person);
else the distinct id itself. So an anonymous visitor's events before signing up and the
events after are one person once the ids are linked, for figures computed after the link.
"""

PERSON_JOIN = (
    "LEFT JOIN person_keys k ON k.organization_id = e.organization_id AND k.distinct_id = e.distinct_id"
)
PERSON = "coalesce(e.user_id::text, k.person, e.distinct_id)"
