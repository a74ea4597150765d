"""Versioned deadline policies from YAML, and the settings that choose one."""

from pathlib import Path

import pytest

from alerts.config import AlertsSettings
from alerts.policies import KindNotInPolicy, PolicyError, load_policy, parse_period, policy_from_yaml
from alerts.testing import NATIONAL_POLICY_PATH
from xinfang_common.domain import DeadlineKind, Difficulty, PeriodUnit

REPO = NATIONAL_POLICY_PATH.parents[2]


def test_the_shipped_national_policy_follows_the_2022_regulation():
    policy = load_policy(NATIONAL_POLICY_PATH)

    assert policy.version == "national-2022"
    expected = {
        DeadlineKind.FORWARD: "15d",
        DeadlineKind.ACCEPTANCE: "15d",
        DeadlineKind.OBJECTION: "5wd",
        DeadlineKind.COMPLETION: "60d",
        DeadlineKind.REVIEW_REQUEST: "30d",
        DeadlineKind.REVIEW: "30d",
        DeadlineKind.RECHECK_REQUEST: "30d",
        DeadlineKind.RECHECK: "30d",
    }
    assert {kind: p.period for kind, p in policy.periods.items()} == expected
    assert policy.period(DeadlineKind.ACCEPTANCE).legal_basis == "信访工作条例 第二十三条"
    assert policy.extension.max_days == 30


def test_the_example_enterprise_policy_has_stricter_internal_tiers():
    policy = load_policy(REPO / "deploy" / "config" / "deadline-policy.example-enterprise-2026.yaml")

    assert policy.internal_tiers == {"simple": "7d", "ordinary": "15d", "difficult": "30d"}
    assert policy.period(DeadlineKind.ACCEPTANCE).unit is PeriodUnit.WORKING_DAYS
    target = policy.target(Difficulty.SIMPLE)
    assert target is not None
    assert target.period == "7d"
    assert policy.hearing.excluded_from == {DeadlineKind.REVIEW, DeadlineKind.RECHECK}


def test_the_national_policy_excludes_hearings_from_the_recheck_only_and_sets_no_targets():
    policy = load_policy(REPO / "deploy" / "config" / "deadline-policy.national-2022.yaml")

    assert policy.hearing.excluded_from == {DeadlineKind.RECHECK}
    assert all(policy.target(d) is None for d in Difficulty)
    # A policy stored with a case before hearings were known still applies the law's rule.
    assert policy_from_yaml("version: old\nperiods: {}\n").hearing.excluded_from == {DeadlineKind.RECHECK}


@pytest.mark.parametrize(
    ("text", "parsed"), [("60d", (60, PeriodUnit.CALENDAR_DAYS)), ("5wd", (5, PeriodUnit.WORKING_DAYS))]
)
def test_periods_are_written_in_days_or_working_days(text, parsed):
    assert parse_period(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("version: x\nperiods:\n  acceptance: {period: 15x, legal_basis: a}\n", "not a period"),
        ("version: x\nperiods:\n  acceptance: {period: 0d, legal_basis: a}\n", "between 1"),
        ("version: x\nperiods:\n  acceptance: {period: 15d}\n", "legal_basis"),
        ("version: x\nperiods:\n  soon: {period: 15d, legal_basis: a}\n", "soon"),
        ("periods: {}\n", "version"),
        ("version: x\nperiods: {}\nextension: {max_days: 45}\n", "max_days"),
        (
            "version: x\nperiods:\n  completion: {period: 30d, legal_basis: a}\n"
            "internal_tiers: {difficult: 60d}\n",
            "stricter",
        ),
        ("version: x\nperiods: {}\ninternal_tiers: {hard: 20d}\n", "simple"),
        ("version: x\nperiods: {}\nhearing: {excluded_from: [acceptance]}\n", "only the period of an answer"),
        ("version: [\n", "not valid YAML"),
    ],
)
def test_a_wrong_policy_is_refused_with_the_reason(text, reason):
    with pytest.raises(PolicyError, match=reason):
        policy_from_yaml(text)


def test_a_policy_without_a_kind_says_so():
    policy = policy_from_yaml("version: x\nperiods: {}\n")

    with pytest.raises(KindNotInPolicy, match="acceptance"):
        policy.period(DeadlineKind.ACCEPTANCE)


def test_a_missing_policy_file_names_it(tmp_path: Path):
    with pytest.raises(PolicyError, match=r"nope\.yaml"):
        load_policy(tmp_path / "nope.yaml")


def test_settings_come_from_alerts_environment_variables(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ALERTS_HOLIDAY_CALENDAR_PATH", str(tmp_path / "cal.yaml"))
    monkeypatch.setenv("ALERTS_POLICY_PATH", str(tmp_path / "p.yaml"))
    monkeypatch.setenv("ALERTS_TIMEZONE", "Asia/Urumqi")
    monkeypatch.setenv("ALERTS_CLOCK_ORIGIN", "")

    settings = AlertsSettings()

    assert settings.holiday_calendar_path == tmp_path / "cal.yaml"
    assert settings.policy_path == tmp_path / "p.yaml"
    assert str(settings.zone) == "Asia/Urumqi"
    assert settings.clock_origin is None
