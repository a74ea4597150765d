"""Deadline policies: which period applies to which deadline kind, versioned, from YAML.

A published version never changes: the whole policy is stored with each case when its first
deadline starts, so a case keeps the version (and the periods) it started under even after the
deployment moves to another file. Local rules (a province's 5 working days to accept, an
enterprise's own periods) are further files with their own ``version``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from xinfang_common.domain import DeadlineKind, Difficulty, PeriodUnit
from xinfang_common.events import MAX_EXTENSION_DAYS
from xinfang_common.periods import MAX_PERIOD

_PERIOD_RE = re.compile(r"^\s*(\d{1,4})\s*(d|wd)\s*$")


class PolicyError(ValueError):
    """The policy file is missing, unreadable or says something impossible."""


class KindNotInPolicy(LookupError):
    """The policy sets no period for this deadline kind."""


def parse_period(text: str) -> tuple[int, PeriodUnit]:
    """``"60d"`` -> (60, calendar days), ``"5wd"`` -> (5, working days); ValueError otherwise."""
    match = _PERIOD_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a period: write <n>d (calendar days) or <n>wd (working days)")
    n = int(match.group(1))
    if not 0 < n <= MAX_PERIOD:
        raise ValueError(f"{text!r}: the length must be between 1 and {MAX_PERIOD}")
    return n, PeriodUnit.WORKING_DAYS if match.group(2) == "wd" else PeriodUnit.CALENDAR_DAYS


def period_text(n: int, unit: PeriodUnit) -> str:
    """The inverse of ``parse_period``."""
    return f"{n}{'wd' if unit is PeriodUnit.WORKING_DAYS else 'd'}"


def _check_period(value: Any) -> Any:
    if isinstance(value, str):
        parse_period(value)
    return value


PeriodText = Annotated[str, BeforeValidator(_check_period)]


class Period(BaseModel):
    """One legal period: its length (``15d``, ``5wd``) and the rule that sets it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: PeriodText
    legal_basis: str = Field(min_length=1)

    @property
    def n(self) -> int:
        """The length."""
        return parse_period(self.period)[0]

    @property
    def unit(self) -> PeriodUnit:
        """Calendar or working days."""
        return parse_period(self.period)[1]


class Extension(BaseModel):
    """How far an approved extension may push the completion period (延期)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_days: int = Field(default=MAX_EXTENSION_DAYS, ge=0, le=MAX_EXTENSION_DAYS)
    legal_basis: str = Field(default="信访工作条例 第三十四条", min_length=1)


class HearingRule(BaseModel):
    """Which periods a hearing (听证) stops the clock of: its days are added to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The recheck by default: the national rule (Art. 36), and what a policy stored with a case
    # before this field existed must still apply.
    excluded_from: frozenset[DeadlineKind] = Field(
        default=frozenset({DeadlineKind.RECHECK}),
        description="deadline kinds whose period does not count the days of a hearing held in their stage",
    )
    legal_basis: str = Field(default="信访工作条例 第三十六条（听证所需时间不计算在期限内）", min_length=1)

    @model_validator(mode="after")
    def _answers_only(self) -> HearingRule:
        wrong = self.excluded_from - HEARING_STAGES.keys()
        if wrong:
            allowed = ", ".join(sorted(k.value for k in HEARING_STAGES))
            named = sorted(k.value for k in wrong)
            raise ValueError(f"a hearing pauses only the period of an answer ({allowed}), not {named}")
        return self


HEARING_STAGES: dict[DeadlineKind, str] = {
    DeadlineKind.COMPLETION: "reply",
    DeadlineKind.REVIEW: "review",
    DeadlineKind.RECHECK: "recheck",
}
"""The periods a hearing can pause, by the answer (reply stage) they are for."""


class DeadlinePolicy(BaseModel):
    """One version of one organisation's deadline rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    organisation: str = Field(default="national", min_length=1)
    description: str = ""
    periods: dict[DeadlineKind, Period]
    extension: Extension = Extension()
    internal_tiers: dict[Difficulty, PeriodText] = Field(
        default_factory=dict,
        description="stricter internal completion targets by the difficulty given on acceptance "
        "(simple/ordinary/difficult), alerted on beside the legal period",
    )
    internal_tiers_basis: str = Field(default="内部办理时限", min_length=1)
    hearing: HearingRule = HearingRule()

    @model_validator(mode="after")
    def _tiers_are_stricter(self) -> DeadlinePolicy:
        completion = self.periods.get(DeadlineKind.COMPLETION)
        for name, text in self.internal_tiers.items():
            n, unit = parse_period(text)
            if completion is not None and unit is completion.unit and n > completion.n:
                raise ValueError(
                    f"internal tier {name.value!r} ({text}) is longer than the completion period "
                    f"({completion.period}); internal tiers may only be stricter"
                )
        return self

    def target(self, difficulty: Difficulty | None) -> Period | None:
        """The internal completion target for ``difficulty``, if this policy sets one."""
        if difficulty is None or difficulty not in self.internal_tiers:
            return None
        text = self.internal_tiers[difficulty]
        return Period(
            period=text, legal_basis=f"{self.internal_tiers_basis}（{difficulty.value}，{self.version}）"
        )

    def period(self, kind: DeadlineKind) -> Period:
        """The period this policy sets for ``kind``."""
        try:
            return self.periods[kind]
        except KeyError:
            raise KindNotInPolicy(f"policy {self.version} sets no period for {kind.value}") from None


def policy_from_yaml(text: str, *, origin: str = "deadline policy") -> DeadlinePolicy:
    """Parse and validate a policy from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {exc}") from exc
    try:
        return DeadlinePolicy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{origin}: {problems}") from exc


def load_policy(path: Path) -> DeadlinePolicy:
    """Load the policy file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read deadline policy {path}: {exc}") from exc
    return policy_from_yaml(text, origin=str(path))


DEFAULT_POLICY_PATH = Path("deploy/config/deadline-policy.national-2022.yaml")
"""Relative to the working directory: the repository root locally, /app in the image."""
