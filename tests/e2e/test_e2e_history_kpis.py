"""The real replies.csv history imported through intake: reporting's on-time completion rate and
handling-time percentiles equal an independent computation from the file itself.

The data stays outside the repository (XINFANG_COMPLAINTS_DATA, default ../shared/data/complaints).
"""

import csv
import os
import statistics
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import httpx
import pytest

from xinfang_common.testing.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(
    os.environ.get(
        "XINFANG_COMPLAINTS_DATA",
        Path(__file__).resolve().parents[2].parent / "shared" / "data" / "complaints",
    )
)
COMPLETION_DAYS = 60
"""Art. 34: an accepted matter is answered within 60 days; the import implies acceptance at registration."""


def completion_due(accepted: datetime) -> datetime:
    """Civil Code Art. 201-203, written out here on its own: the start day is not counted, a last
    day that is a rest day moves to the next working day, the period ends at 24:00 local time."""
    last: date = accepted.astimezone(SHANGHAI).date() + timedelta(days=COMPLETION_DAYS)
    while not chinese_calendar.is_workday(last):
        last += timedelta(days=1)
    return datetime.combine(last + timedelta(days=1), datetime.min.time(), SHANGHAI)


def independent_figures(rows: list[dict[str, str]]) -> tuple[int, int, dict[str, float]]:
    on_time, days = 0, []
    for row in rows:
        submitted = datetime.fromisoformat(row["time"]).replace(tzinfo=SHANGHAI)
        replied = datetime.fromisoformat(row["reply_time"]).replace(tzinfo=SHANGHAI)
        on_time += replied < completion_due(submitted)
        days.append((replied - submitted).total_seconds() / 86400)
    cuts = statistics.quantiles(days, n=100, method="inclusive")
    return (
        on_time,
        len(rows),
        {"p50": cuts[49], "p90": cuts[89], "p95": cuts[94], "mean": statistics.fmean(days)},
    )


@pytest.mark.timeout(1200)
def test_imported_history_gives_the_same_on_time_rate_and_percentiles(
    http: httpx.Client, urls: dict[str, str]
) -> None:
    source = DATA / "replies.csv"
    with source.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2816

    upload = http.post(
        f"{urls['intake']}/v1/imports",
        params={"format": "csv", "unit": "430100-xfj", "filename": "replies.csv"},
        content=source.read_bytes(),
        headers={"content-type": "text/csv"},
        timeout=60,
    )
    assert upload.status_code == 202, upload.text
    job = poll(
        lambda: http.get(f"{urls['intake']}{upload.headers['Location']}").json(),
        lambda j: j["status"] in ("done", "failed"),
        timeout=300,
    )
    assert (job["status"], job["imported"], job["failed"]) == ("done", 2816, 0), job

    numerator, denominator, expected = independent_figures(rows)
    # The import's own unit only: the suite is shared with other modules, which import history too.
    period = {"from": "2011-01-01", "to": "2020-12-31", "unit": "430100-xfj", "subtree": "false"}
    report = poll(
        lambda: http.get(f"{urls['reporting']}/v1/kpis", params=period).json(),
        lambda r: (
            r.get("total", {}).get("on_time_completion", {}).get("denominator") == denominator
            and r["total"]["handling_days"]["count"] == denominator
        ),
        timeout=600,
    )["total"]
    assert report["cases"] == report["imported"] == 2816
    assert report["on_time_completion"]["numerator"] == numerator
    assert report["on_time_completion"]["denominator"] == denominator
    for name, value in expected.items():
        assert report["handling_days"][name] == pytest.approx(value, abs=1e-3), name
