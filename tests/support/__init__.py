"""Helpers shared by several test modules (and nothing the application imports)."""
