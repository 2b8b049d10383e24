"""Ops (to be filled)."""
