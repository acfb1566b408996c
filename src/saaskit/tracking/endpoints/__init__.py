"""HTTP endpoints of tracking: the native API, the PostHog capture protocol, admin triage."""

from saaskit.tracking.endpoints import admin, capture, native

routers = [native.router, capture.router, admin.router, admin.keys_router]
