"""Alembic migrations of intake's own database.

``xinfang-intake-migrate`` applies them (the container entry point runs it), and so does the
service at start. A model change needs a revision: ``xinfang-intake-migrate revision -m "what"``
writes one; test_intake_migrations fails until it exists.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    """Every table of intake, as its models declare them."""
    # Imported for their side effect: each module registers its tables on Base.metadata.
    from intake import consumers, idempotency, outbox  # noqa: F401
    from intake.access import audit, units  # noqa: F401
    from intake.db import Base
    from intake.imports import models as import_models  # noqa: F401
    from intake.petitions import models  # noqa: F401
    from intake.tracking import models as tracking_models  # noqa: F401

    return Base.metadata


def main() -> int:
    """Entry point of ``xinfang-intake-migrate``: migrate the database INTAKE_DATABASE_URL names."""
    from intake.config import IntakeSettings
    from xinfang_common.migrate import main as migrate

    return migrate(__name__, IntakeSettings().database_url)
