"""Third-party integrations an organization connected (OAuth tokens kept sealed): docs/integrations.md."""
