"""Alembic environment and revisions (file names start with the date)."""
