"""When each case next needs the scanner, and the open-deadline counts: kept up to date, never walked.

Every write of a case through the tracker records here the case's next instant: the earliest tier
of a running deadline that fell due and was not alerted yet (already passed: the alert waits, for
instance for the registration grace), or else the next tier instant still to come (an alert, or
only a change of the open-deadline gauge). The scanner then visits the cases whose instant has
passed instead of parsing every case each round. Tier instants are local midnights, so the cases
share a few hundred buckets and a round with nothing due looks at one number.

The index lives in memory only. After every recovery (start, rebalance) it is rebuilt from the
table, which is how alerts that fell due while the service was down are found; an alert is sent
once because the table, not this index, records what was sent.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from alerts.deadlines import CaseState, DeadlineState, TierRule, alert_id, tier_instants
from xinfang_common.calendar import HolidayCalendar
from xinfang_common.domain import AlertTier

Gauge = tuple[tuple[str, str], ...]
"""A case's running deadlines as (kind, tier reached: on_time if none), sorted."""

Instants = Callable[[DeadlineState], dict[AlertTier, datetime]]


@dataclass(frozen=True)
class Outlook:
    """What the index keeps of a case: its next instant (none: nothing will change) and its gauge share."""

    wake: datetime | None
    gauge: Gauge


class TierClock:
    """``tier_instants`` remembered per last day, the only property of a deadline they depend on.

    A million cases have a few hundred distinct last days; counting working days back for each
    case on every write and every rebuild would cost more than parsing the case.
    """

    def __init__(self, rule: TierRule, calendar: HolidayCalendar, tz: ZoneInfo) -> None:
        self.rule = rule
        self.calendar = calendar
        self.tz = tz
        self._by_day: dict[date, dict[AlertTier, datetime]] = {}

    def __call__(self, deadline: DeadlineState) -> dict[AlertTier, datetime]:
        found = self._by_day.get(deadline.last_day)
        if found is None:
            found = self._by_day[deadline.last_day] = tier_instants(
                deadline, self.rule, self.calendar, self.tz
            )
        return found


def outlook(state: CaseState, *, now: datetime, instants: Instants) -> Outlook:
    """The case's next instant and gauge share at ``now``; the alert rule is ``alerts_due``'s."""
    may_alert = not state.imported
    sent = set(state.sent)
    wake: datetime | None = None
    gauge: list[tuple[str, str]] = []
    for deadline in state.deadlines.values():
        if deadline.stopped:
            continue
        reached = "on_time"
        for tier, instant in instants(deadline).items():
            if instant > now:
                pending = True
            else:
                reached = tier.value
                pending = (
                    may_alert
                    and deadline.alerting
                    and alert_id(state.case_id, deadline.kind, deadline.version, tier) not in sent
                )
            if pending and (wake is None or instant < wake):
                wake = instant
        gauge.append((deadline.kind.value, reached))
    return Outlook(wake, tuple(sorted(gauge)))


_Entry = tuple[float | None, Gauge]


class AlertSchedule:
    """Case id -> next instant, in buckets by instant, with the gauge counts of the cases indexed."""

    _SHARED_LIMIT = 65_536

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""
        self._entries: dict[str, _Entry] = {}
        self._buckets: dict[float, set[str]] = {}
        self._queued: set[float] = set()
        self._instants: list[float] = []
        """Heap of the bucket instants."""
        self._pending: set[str] = set()
        """Cases whose instant has passed and that were not indexed again since."""
        self._counts: Counter[tuple[str, str]] = Counter()
        self._shared: dict[_Entry, _Entry] = {}
        """One tuple per distinct entry: a million cases share a few thousand."""

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._entries

    def wake_of(self, case_id: str) -> datetime | None:
        """The instant the case is next due at, if any (UTC)."""
        entry = self._entries.get(case_id)
        if entry is None or entry[0] is None:
            return None
        return datetime.fromtimestamp(entry[0], UTC)

    def note(self, case_id: str, seen: Outlook) -> None:
        """Index the case as ``seen`` now, replacing what was known of it."""
        self.forget(case_id)
        if seen.wake is None and not seen.gauge:
            return
        wake = seen.wake.timestamp() if seen.wake is not None else None
        entry = (wake, seen.gauge)
        if len(self._shared) > self._SHARED_LIMIT:
            self._shared.clear()
        entry = self._shared.setdefault(entry, entry)
        self._entries[case_id] = entry
        self._counts.update(seen.gauge)
        if wake is not None:
            bucket = self._buckets.get(wake)
            if bucket is None:
                bucket = self._buckets[wake] = set()
                if wake not in self._queued:
                    self._queued.add(wake)
                    heapq.heappush(self._instants, wake)
            bucket.add(case_id)

    def forget(self, case_id: str) -> None:
        """Drop the case (gone, or no longer this instance's)."""
        entry = self._entries.pop(case_id, None)
        if entry is None:
            return
        wake, gauge = entry
        self._counts.subtract(gauge)
        if wake is not None:
            self._pending.discard(case_id)
            bucket = self._buckets.get(wake)
            if bucket is not None:
                bucket.discard(case_id)
                if not bucket:
                    del self._buckets[wake]

    def due(self, now: datetime) -> list[str]:
        """The cases whose instant is ``now`` or earlier; each stays due until it is noted again."""
        limit = now.timestamp()
        while self._instants and self._instants[0] <= limit:
            instant = heapq.heappop(self._instants)
            self._queued.discard(instant)
            self._pending.update(self._buckets.pop(instant, ()))
        return list(self._pending)

    def counts(self) -> dict[tuple[str, str], int]:
        """Running deadlines of the indexed cases by kind and tier reached, as of their last noting."""
        return {key: n for key, n in self._counts.items() if n > 0}
