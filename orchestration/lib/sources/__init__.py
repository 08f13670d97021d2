"""Clients for the public data sources, one module per source (plain Python on requests)."""
