"""Alembic migrations of reporting's read-model database.

``xinfang-reporting-migrate`` applies them (the container entry point runs it), and so does the
service at start. A model change needs a revision: ``xinfang-reporting-migrate revision -m "what"``
writes one; test_reporting_migrations fails until it exists. The read model can also be thrown
away and rebuilt from the topics (``xinfang-reporting rebuild --yes``), which ends at head too.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    """Every table of reporting, as its models declare them."""
    from reporting.readmodel.models import Base

    return Base.metadata


def main() -> int:
    """Entry point of ``xinfang-reporting-migrate``: migrate the database REPORTING_DATABASE_URL names."""
    from reporting.config import ReportingSettings
    from xinfang_common.migrate import main as migrate

    return migrate(
        __name__,
        ReportingSettings().database_url,
        refused_hint="The read model is rebuilt from the topics instead: `xinfang-reporting rebuild --yes`.",
    )
