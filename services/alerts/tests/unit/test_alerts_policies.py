"""Versioned deadline policies and the settings that choose one."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from alerts.config import AlertsSettings
from alerts.policies import (
    DEFAULT_POLICY_VERSION,
    DeadlinePolicy,
    KindNotInPolicy,
    Period,
    UnknownPolicy,
    get_policy,
)
from xinfang_common.domain import DeadlineKind, PeriodUnit


def test_the_default_policy_gives_15_calendar_days_to_accept_under_article_23():
    policy = get_policy("national-2022")

    assert DEFAULT_POLICY_VERSION == "national-2022"
    assert policy.version == "national-2022"
    assert policy.period(DeadlineKind.ACCEPTANCE) == Period(
        15, PeriodUnit.CALENDAR_DAYS, "信访工作条例 第二十三条"
    )


def test_an_unknown_version_is_refused_naming_the_known_ones():
    with pytest.raises(UnknownPolicy, match="national-2022"):
        get_policy("province-2031")


def test_a_policy_without_a_period_for_a_kind_says_so():
    empty = DeadlinePolicy(version="empty-1", periods={})

    with pytest.raises(KindNotInPolicy, match="acceptance"):
        empty.period(DeadlineKind.ACCEPTANCE)


def test_a_published_policy_cannot_be_edited_in_place():
    policy = get_policy("national-2022")

    with pytest.raises(TypeError):
        policy.periods[DeadlineKind.ACCEPTANCE] = Period(5, PeriodUnit.WORKING_DAYS, "x")  # type: ignore[index]


@pytest.mark.parametrize(
    "period", [Period(0, PeriodUnit.CALENDAR_DAYS, "x"), Period(15, PeriodUnit.CALENDAR_DAYS, "")]
)
def test_a_policy_with_an_impossible_period_is_refused(period):
    with pytest.raises(ValueError, match="period"):
        DeadlinePolicy(version="bad-1", periods={DeadlineKind.ACCEPTANCE: period})


def test_settings_default_to_the_national_policy_in_shanghai_time(monkeypatch):
    for name in ("POLICY_VERSION", "TIMEZONE", "HOLIDAY_CALENDAR_PATH", "CONSUMER_GROUP"):
        monkeypatch.delenv(f"ALERTS_{name}", raising=False)

    settings = AlertsSettings()

    assert settings.policy_version == "national-2022"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.holiday_calendar_path is None
    assert settings.consumer_group == "xinfang-alerts"


def test_settings_come_from_alerts_environment_variables(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ALERTS_HOLIDAY_CALENDAR_PATH", str(tmp_path / "cal.yaml"))
    monkeypatch.setenv("ALERTS_TIMEZONE", "Asia/Urumqi")

    settings = AlertsSettings()

    assert settings.holiday_calendar_path == tmp_path / "cal.yaml"
    assert str(settings.zone) == "Asia/Urumqi"


def test_an_empty_calendar_path_means_the_packaged_calendar(monkeypatch):
    monkeypatch.setenv("ALERTS_HOLIDAY_CALENDAR_PATH", "")

    assert AlertsSettings().holiday_calendar_path is None


@pytest.mark.parametrize(
    ("field", "value"), [("policy_version", "province-2031"), ("timezone", "Mars/Olympus")]
)
def test_bad_settings_are_refused_at_start(field, value):
    with pytest.raises(ValidationError, match=field):
        AlertsSettings(**{field: value})
