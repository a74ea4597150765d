"""Delivery of alerts to the units: webhook and email subscriptions, retries, dead letters."""
