"""Scaffolding of new code locations."""
