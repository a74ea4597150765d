"""The KPI, backlog, trend, surge and export endpoints over a filled read model (no broker)."""

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from reporting.config import ReportingSettings
from reporting.main import create_app
from reporting.readmodel.database import Database
from reporting.readmodel.projector import apply_event
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests as auth_settings
from xinfang_common.testing.auth import bearer
from xinfang_common.testing.events import example_event
from xinfang_common.topics import SURGE_DETECTED

TITLE = "某小区楼下夜间施工噪音扰民"
AUDITOR = bearer("r-root", "auditor")
CITY_SUPERVISOR = bearer("r-city", "supervisor")
DISTRICT_SUPERVISOR = bearer("r-district", "supervisor")


@pytest.fixture
def client(tmp_path: Path, scenario: list[CloudEvent[Any]]) -> Iterator[TestClient]:
    """The app on a SQLite file holding the scenario and one surge; the lifespan (Kafka) never runs."""
    settings = ReportingSettings(
        database_url=f"sqlite:///{tmp_path / 'reporting.db'}",
        metrics_unit_depth=2,
        metrics_kpi_window_days=3650,
    )
    app = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings(), log_setup=False
    )
    database: Database = app.state.database
    database.create_tables()
    now = datetime(2025, 6, 1, tzinfo=UTC)
    surge = example_event(SURGE_DETECTED, "城乡建设|r-district", unit_code="r-district")
    for event in [*scenario, surge]:
        apply_event(database.sessions, event, now=now)
    app.state.count_cases()
    yield TestClient(app)
    from reporting.metrics import uninstall_case_counts

    uninstall_case_counts(database)
    database.close()


Get = Callable[..., Any]


def test_kpis_answer_with_every_measure(client: TestClient) -> None:
    response = client.get("/v1/kpis", headers=AUDITOR, params={"from": "2025-01-01", "to": "2025-12-31"})
    assert response.status_code == 200, response.text
    body = response.json()
    total = body["total"]
    assert total["cases"] == 6
    assert total["timely_acceptance"] == {"numerator": 2, "denominator": 4, "rate": 0.5}
    assert total["on_time_completion"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert total["handling_days"]["p50"] == 30
    assert body["groups"] is None
    assert TITLE not in response.text


def test_kpis_group_by_month_and_unit(client: TestClient) -> None:
    months = client.get("/v1/kpis", headers=AUDITOR, params={"group_by": "month"}).json()["groups"]
    assert [(g["key"], g["cases"]) for g in months] == [("2025-01", 6)]
    units = client.get("/v1/kpis", headers=AUDITOR, params={"group_by": "unit", "unit": "r-city"}).json()
    assert [(g["key"], g["label"], g["cases"]) for g in units["groups"]] == [
        ("r-city", "单位r-city", 4),
        ("r-district", "单位r-district", 1),
    ]


def test_access_by_role_and_subtree(client: TestClient) -> None:
    assert client.get("/v1/kpis").status_code == 401
    assert client.get("/v1/kpis", headers=bearer("r-city", "handler")).status_code == 403
    assert client.get("/v1/kpis", headers=bearer("r-city", "registrar")).status_code == 403
    assert client.get("/v1/kpis", headers=DISTRICT_SUPERVISOR, params={"unit": "r-city"}).status_code == 403
    own = client.get("/v1/kpis", headers=DISTRICT_SUPERVISOR).json()
    assert own["total"]["cases"] == 1
    assert client.get("/v1/kpis", headers=CITY_SUPERVISOR).json()["total"]["cases"] == 5
    assert client.get("/v1/kpis", headers=bearer("r-root", "admin")).json()["total"]["cases"] == 6
    for path in ("/v1/backlog", "/v1/trends", "/v1/surges", "/v1/exports/kpis.csv", "/v1/stats/summary"):
        assert client.get(path, headers=bearer("r-city", "handler")).status_code == 403, path
    denied = client.get("/v1/exports/annual-report.xlsx?year=2025&unit=r-city", headers=DISTRICT_SUPERVISOR)
    assert denied.status_code == 403
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/kpis", {"group_by": "petitioner"}, "query.group_by"),
        ("/v1/kpis", {"from": "2025-02-01", "to": "2025-01-01"}, "query.to"),
        ("/v1/kpis", {"channel": "fax"}, "query.channel"),
        ("/v1/kpis", {"region": "43"}, "query.region"),
        ("/v1/kpis", {"subtree": "maybe"}, "query.subtree"),
        ("/v1/kpis", {"title": "x"}, "query.title"),
        ("/v1/trends", {"interval": "hour"}, "query.interval"),
        ("/v1/trends", {"interval": "day", "from": "2020-01-01", "to": "2025-01-01"}, "query.from"),
        ("/v1/exports/annual-report.xlsx", {"year": "1999"}, "query.year"),
        ("/v1/exports/annual-report.xlsx", {}, "query.year"),
    ],
)
def test_bad_parameters_get_422_naming_the_field(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(path, headers=AUDITOR, params=params)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == [field]


def test_backlog_trends_and_surges(client: TestClient) -> None:
    backlog = client.get("/v1/backlog", headers=AUDITOR).json()
    assert backlog["bands"] == ["0-15", "16-30", "31-60", "61-90", ">90"]
    assert backlog["total"] == 2
    trends = client.get(
        "/v1/trends",
        headers=AUDITOR,
        params={"interval": "month", "by": "unit", "from": "2025-01-01", "to": "2025-03-31"},
    ).json()
    assert trends["buckets"] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    series = {s["key"]: s["counts"] for s in trends["series"]}
    assert series == {"r-city": [4, 0, 0], "r-district": [1, 0, 0], None: [1, 0, 0]}
    surges = client.get("/v1/surges", headers=DISTRICT_SUPERVISOR).json()["surges"]
    assert [(s["unit_code"], s["count"]) for s in surges] == [("r-district", 42)]
    other = client.get("/v1/surges", headers=bearer("r-elsewhere", "supervisor")).json()
    assert other == {"surges": []}


def test_csv_export_has_chinese_headers_and_only_aggregates(client: TestClient) -> None:
    response = client.get("/v1/exports/kpis.csv", headers=AUDITOR, params={"group_by": "category"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["分组", "名称", "登记件数"]
    assert "及时受理率" in rows[0]
    assert "满意率" in rows[0]
    assert [row[0] for row in rows[1:]] == ["城乡建设", "纪检监察", "合计"]
    assert rows[-1][2] == "6"
    for secret in (TITLE, '"a"', "b,", "dissatisfied"):
        assert secret not in text


def _cells(book: Any) -> list[str]:
    return [
        str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row
    ]


def test_xlsx_export_has_a_chart_sheet_and_only_aggregates(client: TestClient) -> None:
    response = client.get("/v1/exports/kpis.xlsx", headers=AUDITOR, params={"group_by": "unit"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["指标", "图表", "说明"]
    assert book["指标"]["A1"].value == "分组"
    assert len(book["图表"]._charts) == 1
    cells = _cells(book)
    assert TITLE not in cells
    assert "a" not in cells
    assert "f" not in cells


def test_annual_report_covers_article_41(client: TestClient) -> None:
    response = client.get("/v1/exports/annual-report.xlsx", headers=AUDITOR, params={"year": 2025})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["总体情况", "月度分布", "图表", "事项分类", "被投诉单位", "转送与督办"]
    volumes = dict(book["总体情况"].iter_rows(min_row=2, values_only=True))
    assert volumes["登记信访事项总量"] == 6
    assert volumes["渠道：来信"] == 1
    months = list(book["月度分布"].iter_rows(min_row=2, values_only=True))
    assert months[0] == ("2025-01", 6)
    assert len(months) == 12
    subjects = list(book["被投诉单位"].iter_rows(min_row=2, values_only=True))
    assert subjects == [("r-city", "单位r-city", 6)]
    forwarding = dict(book["转送与督办"].iter_rows(min_row=2, values_only=True))
    assert forwarding["转送交办件数"] == 5
    assert forwarding["督办件数"] == 1
    assert TITLE not in _cells(book)
    empty = client.get("/v1/exports/annual-report.xlsx", headers=AUDITOR, params={"year": 2024})
    assert (
        dict(load_workbook(io.BytesIO(empty.content))["总体情况"].iter_rows(min_row=2, values_only=True))[
            "登记信访事项总量"
        ]
        == 0
    )


def test_annual_report_hides_reports_about_the_callers_own_unit(client: TestClient) -> None:
    # c is a report (检举控告) about r-city: a city supervisor must not see it counted (Art. 30).
    response = client.get("/v1/exports/annual-report.xlsx", headers=CITY_SUPERVISOR, params={"year": 2025})
    subjects = list(
        load_workbook(io.BytesIO(response.content))["被投诉单位"].iter_rows(min_row=2, values_only=True)
    )
    assert subjects == [("r-city", "单位r-city", 4)]


def test_business_metrics_have_bounded_unit_labels(client: TestClient) -> None:
    metrics = client.get("/metrics").text
    # Depth 2: the district (depth 3) counts under the city.
    assert 'xinfang_reporting_open_cases{stage="awaiting_acceptance",unit="r-city"} 1.0' in metrics
    assert 'xinfang_reporting_open_cases{stage="awaiting_assignment",unit="unassigned"} 1.0' in metrics
    assert "r-district" not in metrics.split("xinfang_reporting_open_cases", 1)[1].split("# HELP", 1)[0]
    assert 'xinfang_reporting_alerts_total{tier="escalated",unit="r-city"} 1.0' in metrics
    assert 'xinfang_reporting_overdue_cases{unit="r-city"} 1.0' in metrics
    assert 'xinfang_reporting_kpi_numerator{kpi="timely_acceptance",unit="r-city"}' in metrics
    assert 'xinfang_reporting_kpi_denominator{kpi="repeat_rate",unit="unassigned"}' in metrics
