"""HTTP endpoints of tracking: the native API, the PostHog capture protocol, admin triage."""

from saaskit.tracking.endpoints import admin, capture, capture_v1, native

routers = [native.router, capture.router, capture_v1.router, admin.router, admin.keys_router]
# The ingestion endpoints: they repair text PostgreSQL cannot store (NUL, lone surrogates, JSON
# too deep) instead of refusing it, as PostHog's capture does (tracking/sanitize.py).
repairing_routers = [native.router, capture.router, capture_v1.router]
