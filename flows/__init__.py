"""Prefect flows: thin wiring of pv/ into scheduled runs."""
