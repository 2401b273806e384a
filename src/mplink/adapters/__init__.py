"""Adapters at the edge: the database store, catalog files, AWS clients."""
