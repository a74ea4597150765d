"""Alembic environment of intake's database; run through xinfang_common.migrate, not alembic."""

from intake.migrations import target_metadata
from xinfang_common.migrate import run_env

run_env(target_metadata())
