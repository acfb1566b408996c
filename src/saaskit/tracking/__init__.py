"""Product analytics ingestion: events, page views, activity, widgets, errors, metrics, and the
PostHog capture protocol."""
