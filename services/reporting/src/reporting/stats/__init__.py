"""Aggregate statistics over the read model, served over HTTP."""
