"""Configured routing rules, listed over HTTP."""
