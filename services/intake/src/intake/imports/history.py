"""Replaying an imported case's timeline through the case state machine, to refuse what live
handling could never have produced and to find the state the case ends in.

Pure: no database, no clock. An imported case starts as routed to its unit at registration (the
legacy system decided that); each step must then be an action the state machine allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from intake.errors import TransitionNotAllowed
from intake.imports.schemas import REQUIRED_STEP_FIELDS, ImportedCase, StepKind, TimelineStep
from intake.petitions import lifecycle
from intake.petitions.lifecycle import Action, CaseState, PetitionStatus

_ACTIONS: dict[StepKind, Action] = {
    StepKind.ACCEPTED: Action.ACCEPT,
    StepKind.DECLINED: Action.DECLINE,
    StepKind.EXTENDED: Action.EXTEND,
    StepKind.CLOSED: Action.CLOSE,
}
_REPLY_ACTION = {stage: action for action, stage in lifecycle.REPLY_ACTIONS.items()}


class RowProblem(ValueError):
    """Why a row cannot be imported: the field at fault and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ReplayedStep:
    """A step as it will be stored: ``implied`` for the acceptance a reply implies."""

    step: TimelineStep
    implied: bool = False
    reply_sequence: int | None = None
    """For a reply, which answer of the case it is; for a rating, which answer it rates."""


@dataclass
class Replayed:
    """The case after its timeline: its status and the fields live handling would have set."""

    registered_at: datetime
    status: PetitionStatus
    steps: list[ReplayedStep] = field(default_factory=list)
    accepted_at: datetime | None = None
    extended_days: int | None = None
    replied_at: datetime | None = None
    outcome: str | None = None
    reply_sequence: int = 0
    reply_stage: str | None = None
    closed_at: datetime | None = None


def _check_fields(steps: list[TimelineStep]) -> None:
    for index, step in enumerate(steps):
        for name in REQUIRED_STEP_FIELDS[step.kind]:
            if getattr(step, name) is None:
                raise RowProblem(f"timeline[{index}].{name}", f"required for a {step.kind.value} step")


def _check_order(case: ImportedCase, registered_at: datetime) -> None:
    if registered_at < case.received_at:
        raise RowProblem("registered_at", "must not be before received_at")
    previous, previous_name = registered_at, "registered_at"
    for index, step in enumerate(case.timeline):
        if step.at < previous:
            raise RowProblem(
                f"timeline[{index}].at",
                f"{step.at.isoformat()} is before {previous_name} ({previous.isoformat()}): "
                "steps must be in time order",
            )
        previous, previous_name = step.at, f"the {step.kind.value} step before it"


def _with_implied_acceptance(steps: list[TimelineStep], registered_at: datetime) -> list[ReplayedStep]:
    """The steps, led by an acceptance at registration when a reply comes without any decision.

    Reporting measures on-time completion from the acceptance; a legacy system that recorded
    only the reply handled the case all the same.
    """
    kinds = {step.kind for step in steps}
    replayed = [ReplayedStep(step) for step in steps]
    if StepKind.REPLIED in kinds and not kinds & {StepKind.ACCEPTED, StepKind.DECLINED}:
        accepted = TimelineStep(kind=StepKind.ACCEPTED, at=registered_at)
        replayed.insert(0, ReplayedStep(accepted, implied=True))
    return replayed


def replay(case: ImportedCase) -> Replayed:
    """The state the case ends in after its timeline; raises RowProblem naming the step at fault."""
    registered_at = case.registered_at or case.received_at
    _check_order(case, registered_at)
    if not case.timeline:
        status = PetitionStatus.ROUTED if case.unit_code else PetitionStatus.REGISTERED
        return Replayed(registered_at=registered_at, status=status)
    if case.unit_code is None:
        raise RowProblem("unit_code", "required when the timeline has steps (give it, or ?unit= for the job)")
    _check_fields(case.timeline)
    result = Replayed(registered_at=registered_at, status=PetitionStatus.ROUTED)
    state = CaseState(
        status=PetitionStatus.ROUTED, assigned_at=registered_at, petition_type=case.petition_type
    )
    rated: set[int] = set()
    offset = 0
    for position, item in enumerate(_with_implied_acceptance(case.timeline, registered_at)):
        if item.implied:
            offset += 1
        index = position - offset  # the step's place in the file, for errors
        step = item.step
        if step.kind is StepKind.RATED:
            if result.reply_sequence == 0:
                raise RowProblem(f"timeline[{index}].kind", "a rated step needs a reply before it")
            if result.reply_sequence in rated:
                raise RowProblem(
                    f"timeline[{index}].kind", "this reply was already rated; each is rated once"
                )
            rated.add(result.reply_sequence)
            result.steps.append(ReplayedStep(step, reply_sequence=result.reply_sequence))
            continue
        action = _REPLY_ACTION[step.stage] if step.kind is StepKind.REPLIED else _ACTIONS[step.kind]
        try:
            status = lifecycle.decide(state, action, now=step.at)
        except TransitionNotAllowed as exc:
            raise RowProblem(f"timeline[{index}].kind", exc.detail) from exc
        if step.kind is StepKind.REPLIED:
            try:
                lifecycle.check_reply(case.petition_type, step.outcome)
            except lifecycle.OutcomeRequired as exc:
                raise RowProblem(f"timeline[{index}].outcome", str(exc)) from exc
            result.reply_sequence += 1
            result.replied_at = step.at
            result.outcome = step.outcome.value if step.outcome else None
            result.reply_stage = step.stage.value
            item = ReplayedStep(step, reply_sequence=result.reply_sequence)
        elif step.kind is StepKind.ACCEPTED:
            result.accepted_at = step.at
        elif step.kind is StepKind.EXTENDED:
            result.extended_days = step.days
        elif step.kind is StepKind.CLOSED:
            result.closed_at = step.at
        state = CaseState(
            status=status,
            assigned_at=registered_at,
            extended_days=result.extended_days,
            petition_type=case.petition_type,
        )
        result.status = status
        result.steps.append(item)
    return result
