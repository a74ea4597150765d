"""Xinfang alerts: legal deadlines of petition cases, later warnings and escalation."""
