"""Alembic environment of reporting's database; run through xinfang_common.migrate, not alembic."""

from reporting.migrations import target_metadata
from xinfang_common.migrate import run_env

run_env(target_metadata())
