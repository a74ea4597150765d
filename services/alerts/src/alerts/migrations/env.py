"""Alembic environment of alerts's database; run through xinfang_common.migrate, not alembic."""

from alerts.migrations import target_metadata
from xinfang_common.migrate import run_env

run_env(target_metadata())
