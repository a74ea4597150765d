"""A case's deadlines from its facts, and the alerts they call for: pure, no Kafka, no clock.

Events about one case arrive on several topics, in any order across them. So alerts keeps every
fact of a case (deduplicated by event id) and derives all deadlines again from the facts sorted
by their own time (``at``) whenever one arrives: the result does not depend on arrival order.
Each deadline that comes out different from what was last announced becomes a new version,
announced as a DeadlineScheduled event whose id is derived from ``<deadline_id>:v<version>``, so
that reprocessing after a crash yields the very same event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.policies import HEARING_STAGES, DeadlinePolicy, Period
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.cloudevents import CloudEvent, build_event, derived_event_id
from xinfang_common.domain import AlertTier, DeadlineKind, Difficulty, PeriodUnit
from xinfang_common.events import AlertRaised, DeadlineScheduled
from xinfang_common.periods import Due, compute_due, end_of_day
from xinfang_common.topics import ALERT_RAISED, DEADLINE_SCHEDULED


class FactKind(StrEnum):
    """The facts about a case that move its clocks, in the order they apply at the same instant."""

    REGISTERED = "registered"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    OBJECTED = "objected"
    EXTENDED = "extended"
    HEARING = "hearing"
    REPLIED = "replied"
    REVIEW_REQUESTED = "review_requested"
    CLOSED = "closed"


_FACT_ORDER = {kind: i for i, kind in enumerate(FactKind)}


class Fact(BaseModel):
    """One input event, reduced to what the clocks need."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    kind: FactKind
    at: AwareDatetime
    unit_code: str | None = None
    stage: str | None = Field(default=None, description="assignment, reply or review stage")
    days: int | None = Field(default=None, description="days of an extension or a hearing")
    difficulty: Difficulty | None = Field(default=None, description="given on acceptance")
    started_on: date | None = Field(default=None, description="first day of a hearing")
    imported: bool = False


class DeadlineState(BaseModel):
    """A deadline as last announced."""

    model_config = ConfigDict(frozen=True)

    kind: DeadlineKind
    version: int
    event_id: str
    unit_code: str
    starts_at: AwareDatetime
    due_at: AwareDatetime
    last_day: date
    period: int
    period_unit: PeriodUnit
    legal_basis: str
    provisional: bool = False
    stopped: bool = False
    stopped_at: AwareDatetime | None = None
    alerting: bool = True
    announced_at: AwareDatetime


class CaseState(BaseModel):
    """Everything alerts keeps about one case (the value of the ``cases_by_id`` table)."""

    case_id: str
    policy: DeadlinePolicy
    facts: list[Fact] = Field(default_factory=list)
    deadlines: dict[DeadlineKind, DeadlineState] = Field(default_factory=dict)
    sent: list[str] = Field(default_factory=list, description="alert ids already raised")
    first_seen_at: AwareDatetime = Field(description="wall-clock time alerts first heard of the case")

    def to_json_bytes(self) -> bytes:
        """The stored form."""
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_json_bytes(cls, raw: bytes | str) -> CaseState:
        """Parse the stored form."""
        return cls.model_validate_json(raw)

    @property
    def imported(self) -> bool:
        """An imported (historical) case: deadlines are published, alerts never raised."""
        return any(f.imported for f in self.facts if f.kind is FactKind.REGISTERED)

    @property
    def registered(self) -> bool:
        """Whether the registration itself has been seen."""
        return any(f.kind is FactKind.REGISTERED for f in self.facts)

    def knows(self, event_id: str) -> bool:
        """Whether the fact with ``event_id`` was applied already."""
        return any(f.event_id == event_id for f in self.facts)


INFORMATIONAL = frozenset({DeadlineKind.OBJECTION, DeadlineKind.REVIEW_REQUEST, DeadlineKind.RECHECK_REQUEST})
"""Periods that bind the petitioner or only limit a right: announced, never alerted on."""


@dataclass(frozen=True)
class Derived:
    """A deadline as the facts say it is now."""

    kind: DeadlineKind
    unit_code: str
    starts_at: datetime
    due: Due
    legal_basis: str
    stopped_at: datetime | None
    alerting: bool


@dataclass(frozen=True)
class Context:
    """What deriving deadlines needs besides the facts."""

    calendar: HolidayCalendar
    tz: ZoneInfo
    intake_unit: str
    superior_of: Callable[[str], str | None] = lambda unit: None


class _Clocks:
    """The running replay of a case's facts."""

    def __init__(self, policy: DeadlinePolicy, ctx: Context, imported: bool) -> None:
        self.policy = policy
        self.ctx = ctx
        self.imported = imported
        self.out: dict[DeadlineKind, Derived] = {}
        self.base: dict[DeadlineKind, tuple[datetime, Period]] = {}
        """Each running period's start and the period the policy set for it."""
        self.extension_days = 0
        self.hearings: dict[DeadlineKind, list[tuple[date, int]]] = {}
        """Hearings in a period's current run: first day and calendar days spanned."""

    def start(self, kind: DeadlineKind, at: datetime, unit: str, period: Period | None = None) -> None:
        period = period or self.policy.period(kind)
        due = compute_due(at, period.n, period.unit, self.ctx.calendar, self.ctx.tz)
        self.base[kind] = (at, period)
        # A hearing pauses one run of a period: a restarted period starts without its days.
        self.hearings.pop(kind, None)
        alerting = not self.imported and kind not in INFORMATIONAL
        self.out[kind] = Derived(kind, unit, at, due, period.legal_basis, None, alerting)
        self._refresh(kind)

    def _not_counted(self, kind: DeadlineKind, unit: PeriodUnit) -> int:
        """The hearing days of a run of ``kind`` in the period's own unit (working days of a wd period)."""
        spans = self.hearings.get(kind, [])
        if unit is PeriodUnit.CALENDAR_DAYS:
            return sum(days for _, days in spans)
        return sum(
            1
            for first, days in spans
            for day in (first + timedelta(days=i) for i in range(days))
            if self.ctx.calendar.is_working_day(day)
        )

    def _added(self, base: Due, days: int) -> Due:
        if not days:
            return base
        # N more days counted after the original last day, the rest-day rule applied again.
        after = datetime.combine(base.last_day, time(12), tzinfo=self.ctx.tz)
        extra = compute_due(after, days, PeriodUnit.CALENDAR_DAYS, self.ctx.calendar, self.ctx.tz)
        return Due(
            starts_at=base.starts_at,
            start_day=base.start_day,
            period=base.period + days,
            unit=base.unit,
            last_day=extra.last_day,
            due_at=extra.due_at,
            uncovered_years=base.uncovered_years | extra.uncovered_years,
        )

    def _refresh(self, kind: DeadlineKind) -> None:
        """Recompute a running period from its start, the hearing days it does not count, and
        then any extension (counted after the period's last day, as a further period)."""
        current = self.running(kind)
        if current is None or kind not in self.base:
            return
        at, period = self.base[kind]
        basis = period.legal_basis
        paused = self._not_counted(kind, period.unit)
        due = compute_due(at, period.n + paused, period.unit, self.ctx.calendar, self.ctx.tz)
        if paused:
            basis = f"{basis}; {self.policy.hearing.legal_basis}"
        if kind in _EXTENDABLE and self.extension_days:
            due = self._added(due, self.extension_days)
            basis = f"{basis}; {self.policy.extension.legal_basis}"
        self.out[kind] = Derived(
            kind, current.unit_code, current.starts_at, due, basis, None, current.alerting
        )

    def extend(self, days: int) -> None:
        self.extension_days = min(self.policy.extension.max_days, self.extension_days + days)
        for kind in _EXTENDABLE:
            self._refresh(kind)

    def hearing(self, stage: str | None, first_day: date | None, days: int) -> None:
        """A hearing in the stage whose answer is pending: its days do not count, where the policy says so."""
        if first_day is None:
            return
        for kind, answer in HEARING_STAGES.items():
            if answer != stage or kind not in self.policy.hearing.excluded_from or self.running(kind) is None:
                continue
            paused = [kind, DeadlineKind.COMPLETION_TARGET] if kind is DeadlineKind.COMPLETION else [kind]
            for each in paused:
                if self.running(each) is not None:
                    self.hearings.setdefault(each, []).append((first_day, days))
                    self._refresh(each)

    def stop(self, at: datetime, *kinds: DeadlineKind) -> None:
        for kind in kinds:
            current = self.out.get(kind)
            if current is not None and current.stopped_at is None:
                self.out[kind] = Derived(
                    kind,
                    current.unit_code,
                    current.starts_at,
                    current.due,
                    current.legal_basis,
                    at,
                    current.alerting,
                )

    def running(self, kind: DeadlineKind) -> Derived | None:
        current = self.out.get(kind)
        return current if current is not None and current.stopped_at is None else None

    def retarget(self, kind: DeadlineKind, unit: str) -> None:
        current = self.out[kind]
        self.out[kind] = Derived(
            kind,
            unit,
            current.starts_at,
            current.due,
            current.legal_basis,
            current.stopped_at,
            current.alerting,
        )


_EXTENDABLE = (DeadlineKind.COMPLETION, DeadlineKind.COMPLETION_TARGET)
"""An approved extension moves the legal completion deadline and the internal target alike."""


def _sorted(facts: Iterable[Fact]) -> list[Fact]:
    return sorted(facts, key=lambda f: (f.at, _FACT_ORDER[f.kind], f.event_id))


def derive(facts: Iterable[Fact], policy: DeadlinePolicy, ctx: Context) -> dict[DeadlineKind, Derived]:
    """Every deadline of a case as its facts, applied in the order of their ``at``, determine it."""
    ordered = _sorted(facts)
    imported = any(f.imported for f in ordered if f.kind is FactKind.REGISTERED)
    clocks = _Clocks(policy, ctx, imported)
    unit: str | None = None
    for fact in ordered:
        if fact.kind is FactKind.REGISTERED:
            clocks.start(DeadlineKind.FORWARD, fact.at, ctx.intake_unit)
            if unit is not None:
                # Assigned before it was registered (an import's clocks): nothing left to forward.
                clocks.stop(fact.at, DeadlineKind.FORWARD)
        elif fact.kind is FactKind.ASSIGNED:
            assert fact.unit_code is not None
            stage = fact.stage or "handling"
            if stage == "handling":
                unit = fact.unit_code
                clocks.stop(fact.at, DeadlineKind.FORWARD)
                # Receipt by a (new) unit starts, or restarts, its periods.
                clocks.start(DeadlineKind.ACCEPTANCE, fact.at, fact.unit_code)
                clocks.start(DeadlineKind.OBJECTION, fact.at, fact.unit_code)
            else:
                kind = DeadlineKind.REVIEW if stage == "review" else DeadlineKind.RECHECK
                if clocks.running(kind) is not None:
                    clocks.retarget(kind, fact.unit_code)
                else:
                    clocks.start(kind, fact.at, fact.unit_code)
        elif fact.kind is FactKind.ACCEPTED:
            clocks.stop(fact.at, DeadlineKind.ACCEPTANCE, DeadlineKind.OBJECTION)
            handler = fact.unit_code or unit or ctx.intake_unit
            clocks.start(DeadlineKind.COMPLETION, fact.at, handler)
            target = policy.target(fact.difficulty)
            if target is not None:
                clocks.start(DeadlineKind.COMPLETION_TARGET, fact.at, handler, target)
        elif fact.kind in (FactKind.DECLINED, FactKind.OBJECTED):
            clocks.stop(fact.at, DeadlineKind.ACCEPTANCE, DeadlineKind.OBJECTION)
        elif fact.kind is FactKind.EXTENDED:
            clocks.extend(fact.days or 0)
        elif fact.kind is FactKind.HEARING:
            clocks.hearing(fact.stage, fact.started_on, fact.days or 0)
        elif fact.kind is FactKind.REPLIED:
            replier = fact.unit_code or unit or ctx.intake_unit
            if fact.stage == "review":
                clocks.stop(fact.at, DeadlineKind.REVIEW)
                clocks.start(DeadlineKind.RECHECK_REQUEST, fact.at, replier)
            elif fact.stage == "recheck":
                clocks.stop(fact.at, DeadlineKind.RECHECK)
            else:
                clocks.stop(fact.at, DeadlineKind.COMPLETION, DeadlineKind.COMPLETION_TARGET)
                clocks.start(DeadlineKind.REVIEW_REQUEST, fact.at, replier)
        elif fact.kind is FactKind.REVIEW_REQUESTED:
            contested = fact.unit_code or unit or ctx.intake_unit
            reviewer = ctx.superior_of(contested) or contested
            if fact.stage == "recheck":
                clocks.stop(fact.at, DeadlineKind.RECHECK_REQUEST)
                clocks.start(DeadlineKind.RECHECK, fact.at, reviewer)
            else:
                clocks.stop(fact.at, DeadlineKind.REVIEW_REQUEST)
                clocks.start(DeadlineKind.REVIEW, fact.at, reviewer)
        elif fact.kind is FactKind.CLOSED:
            clocks.stop(fact.at, *DeadlineKind)
    return clocks.out


def deadline_id(case_id: str, kind: DeadlineKind) -> str:
    """The stable id of a case's deadline of one kind."""
    return f"{case_id}:{kind.value}"


def _same(old: DeadlineState, new: Derived) -> bool:
    return (
        old.unit_code == new.unit_code
        and old.starts_at == new.starts_at
        and old.due_at == new.due.due_at
        and old.period == new.due.period
        and old.provisional == (not new.due.calendar_covered)
        and old.stopped == (new.stopped_at is not None)
        and old.alerting == new.alerting
        and old.legal_basis == new.legal_basis
    )


@dataclass(frozen=True)
class Reconciled:
    """The deadlines to store and the events that announce the ones that changed."""

    deadlines: dict[DeadlineKind, DeadlineState]
    events: list[CloudEvent[DeadlineScheduled]]


def reconcile(state: CaseState, derived: dict[DeadlineKind, Derived], *, now: datetime) -> Reconciled:
    """Compare what the facts say with what was announced; every difference is a new version."""
    deadlines = dict(state.deadlines)
    events: list[CloudEvent[DeadlineScheduled]] = []
    for kind, new in derived.items():
        old = deadlines.get(kind)
        if old is not None and _same(old, new):
            continue
        version = 1 if old is None else old.version + 1
        ident = deadline_id(state.case_id, kind)
        payload = DeadlineScheduled(
            case_id=state.case_id,
            deadline_id=ident,
            kind=kind,
            unit_code=new.unit_code,
            starts_at=new.starts_at,
            due_at=new.due.due_at,
            period=new.due.period,
            period_unit=new.due.unit,
            policy_version=state.policy.version,
            legal_basis=new.legal_basis,
            version=version,
            provisional=not new.due.calendar_covered,
            stopped=new.stopped_at is not None,
            stopped_at=new.stopped_at,
            alerting=new.alerting,
        )
        event = build_event(
            payload,
            event_type=DEADLINE_SCHEDULED.event_type,
            source=DEADLINE_SCHEDULED.source,
            case_id=state.case_id,
            event_id=derived_event_id(f"{ident}:v{version}", DEADLINE_SCHEDULED.event_type),
            time=now,
        )
        events.append(event)
        deadlines[kind] = DeadlineState(
            kind=kind,
            version=version,
            event_id=event.id,
            unit_code=new.unit_code,
            starts_at=new.starts_at,
            due_at=new.due.due_at,
            last_day=new.due.last_day,
            period=new.due.period,
            period_unit=new.due.unit,
            legal_basis=new.legal_basis,
            provisional=payload.provisional,
            stopped=payload.stopped,
            stopped_at=new.stopped_at,
            alerting=new.alerting,
            announced_at=now,
        )
    return Reconciled(deadlines, events)


@dataclass(frozen=True)
class TierRule:
    """When the tiers fall: working days of warning, and calendar days overdue before escalating."""

    approaching_working_days: int = 3
    escalate_after_days: int = 5


def tier_instants(
    deadline: DeadlineState, rule: TierRule, calendar: HolidayCalendar, tz: ZoneInfo
) -> dict[AlertTier, datetime]:
    """When each tier of ``deadline`` falls due."""
    warn_day = deadline.last_day
    counted = 0
    while counted < rule.approaching_working_days:
        warn_day -= timedelta(days=1)
        if calendar.is_working_day(warn_day):
            counted += 1
    return {
        AlertTier.APPROACHING: datetime.combine(warn_day, time(0), tzinfo=tz),
        AlertTier.DUE: datetime.combine(deadline.last_day, time(0), tzinfo=tz),
        AlertTier.OVERDUE: end_of_day(deadline.last_day, tz),
        AlertTier.ESCALATED: end_of_day(deadline.last_day, tz) + timedelta(days=rule.escalate_after_days),
    }


def alert_id(case_id: str, kind: DeadlineKind, version: int, tier: AlertTier) -> str:
    """The stable id of one alert: one per case, deadline kind, deadline version and tier."""
    return f"{case_id}:{kind.value}:{version}:{tier.value}"


def alert_event_id(alert: str) -> str:
    """The event id of the AlertRaised for ``alert``: a re-raise carries the same id."""
    return derived_event_id(alert, ALERT_RAISED.event_type)


def alerts_due(
    state: CaseState,
    *,
    now: datetime,
    rule: TierRule,
    calendar: HolidayCalendar,
    tz: ZoneInfo,
    superior_of: Callable[[str], str | None],
) -> list[tuple[CloudEvent[AlertRaised], datetime]]:
    """The alerts of ``state`` whose instant has passed and were not raised yet, with that instant.

    Every passed tier of an open deadline is raised, in tier order, so that alerts that fell due
    while the service was down go out when it is back. A stopped deadline raises nothing more.
    """
    if state.imported:
        return []
    sent = set(state.sent)
    out: list[tuple[CloudEvent[AlertRaised], datetime]] = []
    for deadline in state.deadlines.values():
        if deadline.stopped or not deadline.alerting:
            continue
        for tier, instant in tier_instants(deadline, rule, calendar, tz).items():
            ident = alert_id(state.case_id, deadline.kind, deadline.version, tier)
            if instant > now or ident in sent:
                continue
            target = deadline.unit_code
            if tier is AlertTier.ESCALATED:
                target = superior_of(deadline.unit_code) or deadline.unit_code
            payload = AlertRaised(
                alert_id=ident,
                case_id=state.case_id,
                deadline_id=deadline_id(state.case_id, deadline.kind),
                deadline_version=deadline.version,
                kind=deadline.kind,
                tier=tier,
                unit_code=deadline.unit_code,
                target_unit_code=target,
                due_at=deadline.due_at,
                raised_at=now,
                provisional=deadline.provisional,
            )
            event = build_event(
                payload,
                event_type=ALERT_RAISED.event_type,
                source=ALERT_RAISED.source,
                case_id=state.case_id,
                event_id=alert_event_id(ident),
                time=now,
            )
            out.append((event, instant))
    return out


def tier_of(
    deadline: DeadlineState, now: datetime, rule: TierRule, calendar: HolidayCalendar, tz: ZoneInfo
) -> str:
    """Where an open deadline stands now: on_time, or the latest tier that has fallen."""
    current = "on_time"
    for tier, instant in tier_instants(deadline, rule, calendar, tz).items():
        if instant <= now:
            current = tier.value
    return current
