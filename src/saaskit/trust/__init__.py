"""Trust and safety: related accounts (``account_clusters``), abuse patterns found by rules
(``abuse_patterns``), their review and actions (docs/trust.md)."""
