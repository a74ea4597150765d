"""The measures of DOMAIN.md as SQL over ``case_facts``, evaluated at an instant ``as_of``.

Everything is judged as it stood at ``as_of``: a milestone counts only if it happened at or
before it, and a deadline has passed only if it fell due at or before it. An act is in time
when it happened strictly before its ``due_at`` (24:00 of the last day, see
``xinfang_common.periods``).

- 及时受理率 timely acceptance = cases decided (first acceptance or decline) before the
  acceptance deadline / cases whose acceptance deadline has passed or that were decided.
- 按期办结率 on-time completion = cases first replied before the completion deadline (the
  latest version, so an approved extension is included) / cases whose completion deadline has
  passed or that were replied.
- 参评率 participation = replied cases rated by the petitioner / replied cases.
- 满意率 satisfaction = rated 满意 or 基本满意 / rated cases (the earliest reply rated).
- 重复信访率 repeat rate = cases linked to an earlier case on the same matter / cases.

A case decided (or replied) whose deadline reporting has not received is counted in neither
part of the ratio but as ``undetermined``: without the deadline, "in time" cannot be judged.
The deadlines are alerts' (the organisation's policy version), never recomputed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_

from reporting.readmodel.models import CaseFact as F
from xinfang_common.domain import Satisfaction

SATISFIED = (Satisfaction.SATISFIED.value, Satisfaction.BASICALLY_SATISFIED.value)

STAGES = (
    "awaiting_assignment",
    "awaiting_acceptance",
    "in_progress",
    "replied",
    "review",
    "recheck",
    "closed",
    "declined",
)
"""Where a case stands, as counted by status."""

OPEN_STAGES = ("awaiting_assignment", "awaiting_acceptance", "in_progress", "review", "recheck")
"""Stages in which someone still owes the petitioner a decision or an answer (the backlog)."""


def happened(column: Any, as_of: datetime) -> ColumnElement[bool]:
    """The milestone in ``column`` happened at or before ``as_of``."""
    return and_(column.is_not(None), column <= as_of)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def stage(as_of: datetime) -> ColumnElement[str]:
    """The case's stage at ``as_of`` (one of STAGES)."""
    return case(
        (happened(F.declined_at, as_of), literal("declined")),
        (
            and_(happened(F.recheck_requested_at, as_of), ~happened(F.recheck_replied_at, as_of)),
            literal("recheck"),
        ),
        (
            and_(happened(F.review_requested_at, as_of), ~happened(F.review_replied_at, as_of)),
            literal("review"),
        ),
        (happened(F.closed_at, as_of), literal("closed")),
        (happened(F.replied_at, as_of), literal("replied")),
        (happened(F.accepted_at, as_of), literal("in_progress")),
        (and_(F.unit_code.is_not(None), happened(F.assigned_at, as_of)), literal("awaiting_acceptance")),
        else_=literal("awaiting_assignment"),
    )


def past_due_open(as_of: datetime) -> ColumnElement[bool]:
    """Open at ``as_of`` and past the deadline of the step it waits for."""
    deciding = and_(
        ~happened(F.decided_at, as_of),
        ~happened(F.replied_at, as_of),
        ~happened(F.closed_at, as_of),
        happened(F.acceptance_due_at, as_of),
    )
    answering = and_(
        happened(F.accepted_at, as_of),
        ~happened(F.declined_at, as_of),
        ~happened(F.replied_at, as_of),
        ~happened(F.closed_at, as_of),
        happened(F.completion_due_at, as_of),
    )
    return or_(deciding, answering)


def aggregate_columns(as_of: datetime) -> list[ColumnElement[int]]:
    """The additive counts of one group, labelled; handling-time values are fetched apart.

    Stages are not among them: grouping by ``stage(as_of)`` as well evaluates it once per row
    instead of once per stage.
    """
    decided = happened(F.decided_at, as_of)
    replied = happened(F.replied_at, as_of)
    rated = and_(happened(F.rated_at, as_of), replied)
    acceptance_known = F.acceptance_due_at.is_not(None)
    completion_known = F.completion_due_at.is_not(None)
    columns: list[ColumnElement[int]] = [
        func.count().label("cases"),
        _flag(F.imported.is_(True)).label("imported"),
        _flag(and_(acceptance_known, decided, F.decided_at < F.acceptance_due_at)).label("acc_num"),
        _flag(and_(acceptance_known, or_(F.acceptance_due_at <= as_of, decided))).label("acc_den"),
        _flag(and_(~acceptance_known, decided)).label("acc_undetermined"),
        _flag(and_(completion_known, replied, F.replied_at < F.completion_due_at)).label("comp_num"),
        _flag(and_(completion_known, or_(F.completion_due_at <= as_of, replied))).label("comp_den"),
        _flag(and_(~completion_known, replied)).label("comp_undetermined"),
        _flag(rated).label("rated"),
        _flag(replied).label("replied"),
        _flag(and_(rated, F.satisfaction.in_(SATISFIED))).label("satisfied"),
        _flag(happened(F.linked_at, as_of)).label("linked"),
        _flag(happened(F.overdue_at, as_of)).label("overdue_flagged"),
        _flag(happened(F.escalated_at, as_of)).label("supervised"),
        _flag(past_due_open(as_of)).label("past_due_open"),
        func.sum(case((replied, F.handling_seconds), else_=0)).label("handling_sum"),
        _flag(and_(replied, F.handling_seconds.is_not(None))).label("handling_count"),
    ]
    return columns


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile by linear interpolation between closest ranks.

    The same definition as numpy's default, PostgreSQL's ``percentile_cont`` and
    ``statistics.quantiles(method="inclusive")``: rank ``(n - 1) * fraction``.
    """
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    weight = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * weight


def case_flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where ``condition`` holds, else 0 (to sum)."""
    return case((condition, 1), else_=0)
