"""System-wide settings and feature switches."""
