"""Deadline policies: which period applies to which deadline kind, versioned.

A published version never changes: a case keeps the version it started under (the version is
stored with each deadline), so changing a rule means adding a new version and pointing
``ALERTS_POLICY_VERSION`` at it. Local rules (a province's 5 working days to accept, an
enterprise's own periods) become further versions here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from xinfang_common.domain import DeadlineKind, PeriodUnit
from xinfang_common.periods import MAX_PERIOD


class UnknownPolicy(LookupError):
    """No policy has this version."""


class KindNotInPolicy(LookupError):
    """The policy sets no period for this deadline kind."""


class Period(NamedTuple):
    """A legal period: its length, its unit and the rule that sets it."""

    n: int
    unit: PeriodUnit
    legal_basis: str


@dataclass(frozen=True)
class DeadlinePolicy:
    """One version of the deadline rules."""

    version: str
    periods: Mapping[DeadlineKind, Period]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("a policy needs a version")
        for kind, period in self.periods.items():
            if not 0 < period.n <= MAX_PERIOD:
                raise ValueError(f"{self.version}: {kind} period {period.n} is out of range")
            if not period.legal_basis:
                raise ValueError(f"{self.version}: {kind} period needs a legal basis")
        # Read-only view, so that no code can edit a published version in place.
        object.__setattr__(self, "periods", MappingProxyType(dict(self.periods)))

    def period(self, kind: DeadlineKind) -> Period:
        """The period this policy sets for ``kind``."""
        try:
            return self.periods[kind]
        except KeyError:
            raise KindNotInPolicy(f"policy {self.version} sets no period for {kind.value}") from None


NATIONAL_2022 = DeadlinePolicy(
    version="national-2022",
    description="信访工作条例 (in force 2022-05-01), national minimum periods",
    periods={
        DeadlineKind.ACCEPTANCE: Period(15, PeriodUnit.CALENDAR_DAYS, "信访工作条例 第二十三条"),
    },
)

POLICIES: Mapping[str, DeadlinePolicy] = MappingProxyType({p.version: p for p in (NATIONAL_2022,)})
DEFAULT_POLICY_VERSION = NATIONAL_2022.version


def get_policy(version: str, policies: Mapping[str, DeadlinePolicy] = POLICIES) -> DeadlinePolicy:
    """The policy with ``version``."""
    try:
        return policies[version]
    except KeyError:
        known = ", ".join(sorted(policies)) or "none"
        raise UnknownPolicy(f"no deadline policy {version!r} (known: {known})") from None
