"""Routing decisions previewed over HTTP."""
