"""Alembic migrations of routing's own database.

``xinfang-routing-migrate`` applies them (the container entry point runs it), and so does the
service at start. A model change needs a revision: ``xinfang-routing-migrate revision -m "what"``
writes one; test_routing_migrations fails until it exists.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    """Every table of routing, as its models declare them."""
    from routing.cases.models import Base

    return Base.metadata


def main() -> int:
    """Entry point of ``xinfang-routing-migrate``: migrate the database ROUTING_DATABASE_URL names."""
    from routing.config import RoutingSettings
    from xinfang_common.migrate import main as migrate

    return migrate(__name__, RoutingSettings().database_url)
