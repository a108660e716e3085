"""Serving layer: the merged serving view, named queries and status."""
