"""The audit log (``activities``): one row per state change, written in the same transaction."""
