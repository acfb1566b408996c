"""Accounts: users, profiles, preferences, sessions, sign-up / sign-in, beta access."""
