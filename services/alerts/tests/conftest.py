"""Fixtures shared by the alerts tests."""

from pathlib import Path

import pytest

from alerts.testing import NATIONAL_POLICY_PATH


@pytest.fixture
def policy_path() -> Path:
    return NATIONAL_POLICY_PATH
