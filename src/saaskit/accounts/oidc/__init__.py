"""Sign-in with OpenID Connect and OAuth providers (docs/integrations.md)."""
