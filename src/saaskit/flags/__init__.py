"""Feature flags (PostHog's definitions and evaluation) and the persons they evaluate."""
