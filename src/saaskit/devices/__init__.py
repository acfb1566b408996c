"""Devices and presence: dashboards, heartbeats, visitors, usage sessions, app versions."""
