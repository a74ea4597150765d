"""Pytest fixtures for the suite's tests: a real Kafka broker and real databases."""
