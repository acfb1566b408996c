"""Roles, role assignments and the one permission check every endpoint uses."""
