"""Privacy duties: export, erasure, per-user retention and the retention schedule (docs/privacy.md)."""
