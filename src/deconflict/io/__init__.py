"""Adapters: state-vector files (and later receivers, plans, scenarios)."""
