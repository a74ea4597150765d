"""Alembic migrations of alerts' own database (subscriptions, alerts received, deliveries).

``xinfang-alerts-migrate`` applies them (the container entry point runs it), and so does the
service at start. A model change needs a revision: ``xinfang-alerts-migrate revision -m "what"``
writes one; test_alerts_migrations fails until it exists.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    """Every table of alerts, as its models declare them."""
    from alerts.notify.models import Base

    return Base.metadata


def main() -> int:
    """Entry point of ``xinfang-alerts-migrate``: migrate the database ALERTS_DATABASE_URL names."""
    from alerts.config import AlertsSettings
    from xinfang_common.migrate import main as migrate

    return migrate(__name__, AlertsSettings().database_url)
