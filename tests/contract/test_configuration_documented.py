"""Every setting a service reads is in docs/configuration.md, with its real default."""

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.config import AlertsSettings
from intake.config import IntakeSettings
from reporting.config import ReportingSettings
from routing.config import RoutingSettings
from xinfang_common.settings import KafkaSettings, LogSettings, StreamSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SETTINGS = [
    KafkaSettings,
    LogSettings,
    StreamSettings,
    IntakeSettings,
    RoutingSettings,
    AlertsSettings,
    ReportingSettings,
]


def documented() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", DOC.read_text(encoding="utf-8"), re.M)
    return {name: default.strip() for name, default in rows}


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda cls: cls.__name__)
def test_each_setting_is_documented_with_its_default(settings):
    table = documented()
    prefix = settings.model_config.get("env_prefix", "")
    for name, field in settings.model_fields.items():
        env = field.alias or f"{prefix}{name}".upper()
        assert env in table, f"{env} is missing from docs/configuration.md"
        assert field.description, f"{settings.__name__}.{name} has no description"
        default = field.default_factory() if field.default_factory else field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        expected = "(empty)" if default in (None, "") else f"`{default}`"
        assert table[env] == expected, f"{env}: the table says {table[env]}, the code {expected}"
