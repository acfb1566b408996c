"""Rollups: activity per 15 minutes / day / month, the nightly daily figures, the monthly
tables. ``runner`` decides what to (re)compute; the other modules hold the SQL."""
