"""The service refuses to start without a usable encryption key."""

from pathlib import Path

import pytest

from intake.config import IntakeSettings
from intake.crypto import EncryptionKeyError
from intake.main import create_app


def test_missing_key_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTAKE_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(EncryptionKeyError, match="INTAKE_ENCRYPTION_KEYS is not set"):
        create_app(IntakeSettings(database_url=f"sqlite:///{tmp_path / 'intake.db'}"))


def test_invalid_key_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_ENCRYPTION_KEYS", "too-short")
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'intake.db'}")
    with pytest.raises(EncryptionKeyError, match=r"entry #1 \(key id 'k0'\) is not a valid AES-256 key"):
        create_app()
