"""The daily digest of a unit: its open cases by due date, or a zero report (零报告) when it has none.

Pure: when a day's digest falls due and what it says. Storing it once per unit and day and
delivering it are in ``alerts.notify.service``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from xinfang_common.cloudevents import CloudEvent, build_event, derived_event_id
from xinfang_common.domain import DeadlineKind
from xinfang_common.topics import ALERTS

DIGEST_EVENT_TYPE = "cn.xinfang.alert.digest.v1"
"""CloudEvents type of a digest sent to a webhook (not published on a topic: the DB row is its record)."""
DIGEST_SOURCE = f"/xinfang/{ALERTS}"


def digest_day(now: datetime, at: time, tz: ZoneInfo) -> date | None:
    """The local day whose digest is due at ``now``: today once ``at`` has passed, else none.

    A day whose digest time passed while no instance ran is not caught up the next day: a
    digest of yesterday's open cases is of no use once today's is due.
    """
    local = now.astimezone(tz)
    return local.date() if local.time() >= at else None


@dataclass(frozen=True)
class OpenItem:
    """One running deadline of the unit, as the digest needs it."""

    case_id: str
    kind: str
    due_at: datetime
    last_day: date
    provisional: bool


class DigestItem(BaseModel):
    """One open case of the unit: which deadline runs and when it is due."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    kind: DeadlineKind
    due_at: AwareDatetime = Field(description="24:00 local time of the last day")
    last_day: date
    overdue: bool = Field(description="the deadline has passed")
    provisional: bool = Field(description="the holiday calendar of a year it reaches is not published yet")


class UnitDigest(BaseModel):
    """A unit's daily digest: its open cases by due date; ``zero_report`` when there are none."""

    model_config = ConfigDict(frozen=True)

    unit_code: str
    unit_name: str | None = None
    day: date = Field(description="the local day reported on")
    timezone: str
    generated_at: AwareDatetime
    zero_report: bool = Field(description="零报告: nothing open, said explicitly")
    open_count: int
    overdue_count: int
    items: list[DigestItem]


def build_digest(
    unit_code: str,
    unit_name: str | None,
    day: date,
    *,
    now: datetime,
    tz: ZoneInfo,
    open_items: Iterable[OpenItem],
) -> UnitDigest:
    """The digest of ``unit_code`` for ``day``: its running deadlines, soonest first."""
    items = sorted(
        (
            DigestItem(
                case_id=i.case_id,
                kind=DeadlineKind(i.kind),
                due_at=i.due_at.astimezone(tz),
                last_day=i.last_day,
                overdue=i.due_at <= now,
                provisional=i.provisional,
            )
            for i in open_items
        ),
        key=lambda item: (item.due_at, item.case_id, item.kind.value),
    )
    return UnitDigest(
        unit_code=unit_code,
        unit_name=unit_name,
        day=day,
        timezone=tz.key,
        generated_at=now,
        zero_report=not items,
        open_count=len(items),
        overdue_count=sum(item.overdue for item in items),
        items=items,
    )


def digest_id(unit_code: str, day: date) -> str:
    """The id of a unit's digest of one day (its row's key)."""
    return f"{unit_code}:{day.isoformat()}"


def digest_event(digest: UnitDigest) -> CloudEvent[UnitDigest]:
    """The digest as a CloudEvent; the id depends only on unit and day, so a resend carries the same."""
    ident = digest_id(digest.unit_code, digest.day)
    return build_event(
        digest,
        event_type=DIGEST_EVENT_TYPE,
        source=DIGEST_SOURCE,
        key=digest.unit_code,
        event_id=derived_event_id(ident, DIGEST_EVENT_TYPE),
        time=digest.generated_at,
    )


def digest_text(digest: UnitDigest) -> tuple[str, str]:
    """Subject and plain-text body of the digest email."""
    who = f"{digest.unit_name} ({digest.unit_code})" if digest.unit_name else digest.unit_code
    if digest.zero_report:
        subject = f"[信访日报] {who} {digest.day.isoformat()} 零报告"
        return subject, f"{who} 截至 {digest.day.isoformat()} 无在办期限 (零报告)。\n"
    subject = (
        f"[信访日报] {who} {digest.day.isoformat()} 在办 {digest.open_count} 件"
        f"{f', 已超期 {digest.overdue_count} 件' if digest.overdue_count else ''}"
    )
    lines = [f"{who} 截至 {digest.day.isoformat()} 在办期限 {digest.open_count} 项 (按到期日):", ""]
    for item in digest.items:
        flags = ("已超期 " if item.overdue else "") + ("期限暂定 " if item.provisional else "")
        lines.append(f"{item.last_day.isoformat()}  {item.case_id}  {item.kind.value}  {flags}".rstrip())
    return subject, "\n".join(lines) + "\n"
