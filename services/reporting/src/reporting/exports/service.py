"""The figures of the annual report (Art. 41): counts over one local calendar year."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, not_, select
from sqlalchemy.orm import Session

from reporting.access import Scope
from reporting.exports.render import CHANNEL_NAMES, TYPE_NAMES, AnnualReport
from reporting.kpis import service
from reporting.kpis.formulas import happened
from reporting.kpis.schemas import CaseQuery
from reporting.readmodel.models import CaseFact as F
from reporting.readmodel.units import UnitTree
from xinfang_common.domain import PetitionType

TOP_SUBJECT_UNITS = 20


def annual_report(
    session: Session, *, year: int, scope: Scope, tree: UnitTree, zone: ZoneInfo, now: datetime
) -> AnnualReport:
    """Volumes, subject areas, units most complained about, forwarding and supervision counts."""
    query = CaseQuery.model_validate({"from": date(year, 1, 1), "to": date(year, 12, 31)})
    selection = service.select_cases(query, scope, zone, now=now)
    kpis = service.compute_kpis(session, selection, group_by=None, tree=tree, zone=zone, now=now)
    where = selection.flt.cases()

    def counts(column: Any) -> list[tuple[str | None, int]]:
        stmt = select(column, func.count()).where(where).group_by(column)
        return [(key, int(n)) for key, n in session.execute(stmt)]

    by_channel = [(CHANNEL_NAMES.get(k or "", k or "(无)"), n) for k, n in counts(F.channel)]
    by_type = [(TYPE_NAMES.get(k or "", "未分类"), n) for k, n in counts(F.petition_type)]
    month = service.local_text(session, F.registered_at, "month", zone, selection.as_of)
    months = dict(counts(month))
    by_month = [(f"{year}-{m:02d}", months.get(f"{year}-{m:02d}", 0)) for m in range(1, 13)]
    by_category = service.group_counts(counts(F.category))

    subject: list[ColumnElement[bool]] = [F.subject_unit.is_not(None)]
    if not scope.everything and scope.shielded_from:
        # Art. 30: whoever sits in (or above) the reported unit learns nothing of reports about it.
        subject.append(
            not_(
                and_(
                    F.petition_type == PetitionType.REPORT.value,
                    F.subject_unit.in_(sorted(scope.shielded_from)),
                )
            )
        )
    stmt = (
        select(F.subject_unit, func.count().label("n"))
        .where(where, *subject)
        .group_by(F.subject_unit)
        .order_by(func.count().desc(), F.subject_unit)
        .limit(TOP_SUBJECT_UNITS)
    )
    subject_units = [(str(code), tree.name(str(code)), int(n)) for code, n in session.execute(stmt)]

    totals = session.execute(
        select(
            func.count(F.unit_code),
            func.coalesce(func.sum(F.assignments), 0),
            func.coalesce(func.sum(F.objections), 0),
        ).where(where)
    ).one()
    k = kpis.total
    forwarding = {
        "转送交办件数": int(totals[0]),
        "转送交办次数（含退回后重新转送）": int(totals[1]),
        "退回重新转送次数（异议）": int(totals[2]),
        "超期件数": k.overdue,
        "督办件数": k.supervised,
        "不予受理件数": k.by_status["declined"],
        "复查申请件数": _count(session, where, F.review_requested_at, selection.as_of),
        "复核申请件数": _count(session, where, F.recheck_requested_at, selection.as_of),
    }
    label = (
        "全部单位"
        if scope.unit is None
        else f"{tree.name(scope.unit)}（{scope.unit}）" + ("及下级单位" if scope.subtree else "")
    )
    return AnnualReport(
        year=year,
        scope=label,
        total=k,
        by_channel=sorted(by_channel, key=lambda item: -item[1]),
        by_type=sorted(by_type, key=lambda item: -item[1]),
        by_month=by_month,
        by_category=by_category,
        subject_units=subject_units,
        forwarding=forwarding,
    )


def _count(session: Session, where: ColumnElement[bool], column: Any, as_of: datetime) -> int:
    stmt = select(func.count()).where(where, happened(column, as_of))
    return int(session.scalar(stmt) or 0)
