"""Alembic environment of routing's database; run through xinfang_common.migrate, not alembic."""

from routing.migrations import target_metadata
from xinfang_common.migrate import run_env

run_env(target_metadata())
