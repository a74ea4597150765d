"""Fast fault drills: a broker, intake and routing of their own, broken under load.

The scenarios live in bench/ (bench/faultlib.py, bench/faults/*.py, whose long variants are run
by hand); these tests run short variants of them. Each module gets a fresh suite, so a drill
never inherits another's damage.
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
for folder in (BENCH, BENCH / "faults"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from benchlib import BenchSuite  # noqa: E402


@pytest.fixture(scope="module")
def fault_suite() -> Iterator[BenchSuite]:
    """Intake and routing as separate processes on a broker of their own, SQLite under a temp dir."""
    with BenchSuite(services=("intake", "routing")) as suite:
        yield suite
