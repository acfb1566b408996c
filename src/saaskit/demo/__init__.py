"""``saaskit demo`` and ``serve --demo``: realistic, consistent demo data, deterministic for a seed.

Generators (each returns rows or binary COPY blocks, never touches the database):
``people`` (users, abusive clusters), ``tenancy``, ``billing`` (subscription lifecycles) with
``ledger`` (billing rows) and ``webhooks``, ``devices`` with ``presence`` and ``usage``
(sessions, widget events), ``visitors``, ``accounts`` (user rows), and for the time-partitioned
tables ``activity``, ``product`` (events, page views) and ``telemetry``.
Loading: ``copying`` (COPY, partitions built detached), ``plan`` (day counts and partitions),
``parallel`` (worker processes), ``finalize`` (derived columns, counters), ``generate`` (a whole
run, rollups, ANALYZE). Entry points: ``cli.demo_command`` and ``seeding.seed_demo_if_empty``.
See docs/demo.md.
"""
