"""Insights: the read side of analytics (statistics, rollups, funnels, retention, KPIs)."""
