"""Routing: decides the unit responsible for each registered petition."""
