"""Organizations, their members, teams, workspaces and invitations (seed 004)."""
