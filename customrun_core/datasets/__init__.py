"""Datasets shipped with the core (the digits example)."""
