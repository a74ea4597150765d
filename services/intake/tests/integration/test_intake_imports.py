"""Importing historical cases over HTTP: each format, bad rows, re-runs, resuming, and assignments."""

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select

from intake.consumers import apply_message
from intake.deps import IntakeState
from intake.imports.models import ImportFile, ImportJob
from intake.imports.runner import ImportRunner
from intake.imports.service import case_id_for
from intake.outbox import OutboxMessage
from intake.petitions.models import Petition, TimelineEntry
from intake.tracking.models import Rating
from xinfang_common.testing.auth import staff_client
from xinfang_common.testing.events import example_event
from xinfang_common.topics import (
    CASE_ACCEPTED,
    CASE_ASSIGNED,
    CASE_CLOSED,
    CASE_RATED,
    CASE_REPLIED,
    PETITION_REGISTERED,
)

pytestmark = pytest.mark.database

CSV_TYPE = "text/csv"
JSONL_TYPE = "application/x-ndjson"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

LEGACY_CSV = (
    "id,title,body,reply,time,reply_time,response_days\n"
    "2549,A2区景蓉华苑物业管理有问题,小区物业扬言退出，业委会制定高昂收费方案。,"
    "现将调查核实情况答复如下：已督促业委会依法召开业主大会。,2019-04-25 09:32:09,2019-05-10 14:56:53,15.23\n"
    '2554,小区楼下夜间施工噪音扰民,"工地连续多日夜间施工，\n影响居民休息。",已责令停止夜间施工。,'
    "2019-04-24 16:03:40,2019-05-09 09:49:10,14.74\n"
    "2555,,缺少标题的留言。,已答复。,2019-04-24 15:40:04,2019-05-09 09:49:14,14.76\n"
    "2557,道路破损,道路破损严重。,已修复。,2019-04-24 15:07:30,2019-04-20 09:49:42,-4.2\n"
    "2560,公交线路调整建议,建议增加公交线路。,,2019-04-23 17:03:19,,\n"
)
"""Five legacy rows over six lines (one field spans two): two good, one without title (line 5), one
replied before it arrived (line 6), one unanswered."""


@pytest.fixture
def app(intake_app: Callable[..., FastAPI]) -> FastAPI:
    return intake_app(relay_enabled=False, consumer_enabled=False, import_batch_size=2)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with staff_client(app) as c:
        yield c


def state(app: FastAPI) -> IntakeState:
    s: IntakeState = app.state.intake
    return s


def upload(client: TestClient, content: bytes, content_type: str, **params: str) -> dict[str, Any]:
    response = client.post(
        "/v1/imports", params=params, content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["Location"] == body["links"]["self"] == f"/v1/imports/{body['id']}"
    return body


def finished(client: TestClient, job_id: str, wait_until: Callable[..., Any]) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/imports/{job_id}").json()
        return job if job["status"] in ("done", "failed") else None

    result: dict[str, Any] = wait_until(done, timeout=60)
    return result


def outbox_rows(app: FastAPI, case_id: str) -> list[OutboxMessage]:
    with state(app).session_factory() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == case_id).order_by(OutboxMessage.id)
            )
        )


def petition(app: FastAPI, external_id: str) -> Petition | None:
    with state(app).session_factory() as session:
        return session.scalar(select(Petition).where(Petition.external_id == external_id))


def test_a_legacy_csv_imports_its_good_rows_and_reports_the_bad_ones_by_line(
    app: FastAPI, client: TestClient, wait_until: Callable[..., Any]
) -> None:
    accepted = upload(client, LEGACY_CSV.encode(), CSV_TYPE, unit="430100-xfj", filename="replies.csv")
    assert accepted["status"] == "queued"
    job = finished(client, accepted["id"], wait_until)
    assert job["status"] == "done"
    assert (job["total"], job["processed"], job["imported"], job["skipped_existing"], job["failed"]) == (
        5,
        5,
        3,
        0,
        2,
    )
    assert job["format"] == "csv"
    assert job["filename"] == "replies.csv"
    assert job["unit"] == "430100-xfj"
    assert job["started_at"]
    assert job["finished_at"]
    by_line = {(e["line"], e["external_id"], e["field"]) for e in job["errors"]}
    assert by_line == {(5, "2555", "title"), (6, "2557", "replied_at")}
    reason = next(e["reason"] for e in job["errors"] if e["line"] == 6)
    assert "before" in reason
    assert job["errors_truncated"] is False

    replied = petition(app, "2549")
    assert replied is not None
    assert replied.imported
    assert replied.id == case_id_for("2549")
    assert replied.status == "replied"
    assert replied.assigned_unit_code == "430100-xfj"
    assert replied.registered_at == datetime(2019, 4, 25, 1, 32, 9, tzinfo=UTC)
    assert replied.accepted_at == replied.registered_at  # implied by the reply
    multi_line = petition(app, "2554")
    assert multi_line is not None
    assert multi_line.content == "工地连续多日夜间施工，\n影响居民休息。"
    unanswered = petition(app, "2560")
    assert unanswered is not None
    assert unanswered.status == "routed"

    events = outbox_rows(app, replied.id)
    assert [e.topic for e in events] == [PETITION_REGISTERED.name, CASE_ACCEPTED.name, CASE_REPLIED.name]
    registered = json.loads(events[0].payload)
    assert registered["data"]["imported"] is True
    assert registered["data"]["imported_unit"] == "430100-xfj"
    assert registered["data"]["registered_at"] == "2019-04-25T01:32:09Z"
    reply = json.loads(events[2].payload)
    assert reply["data"]["at"] == "2019-05-10T06:56:53Z"
    assert reply["data"]["actor"] == "import"

    with state(app).session_factory() as session:
        timeline = list(
            session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.petition_id == replied.id)
                .order_by(TimelineEntry.id)
            )
        )
    assert [(t.kind, t.actor) for t in timeline] == [
        ("registered", f"import:{accepted['id']}"),
        ("accepted", f"import:{accepted['id']}"),
        ("replied", f"import:{accepted['id']}"),
    ]
    assert timeline[1].detail["implied"] is True
    assert timeline[2].detail["imported"] is True
    with state(app).session_factory() as session:
        # The upload (it may hold personal data) is dropped once its rows are stored.
        assert session.get(ImportFile, accepted["id"]) is None


def test_importing_the_same_file_again_skips_every_case_and_publishes_nothing_new(
    app: FastAPI, client: TestClient, wait_until: Callable[..., Any]
) -> None:
    first = finished(
        client, upload(client, LEGACY_CSV.encode(), CSV_TYPE, unit="430100-xfj")["id"], wait_until
    )
    with state(app).session_factory() as session:
        events_before = session.scalar(select(func.count()).select_from(OutboxMessage))
    again = finished(
        client, upload(client, LEGACY_CSV.encode(), CSV_TYPE, unit="430100-xfj")["id"], wait_until
    )
    assert first["imported"] == 3
    assert (again["imported"], again["skipped_existing"], again["failed"]) == (0, 3, 2)
    with state(app).session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == events_before
        assert session.scalar(select(func.count()).select_from(Petition)) == 3


def jsonl_case(external_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "channel": "visit",
        "petition_type": "claim",
        "category": "城乡建设",
        "title": "小区楼下夜间施工噪音扰民",
        "content": "某小区旁工地连续多日夜间施工，影响居民休息。",
        "region": "430104",
        "unit_code": "430104-zjj",
        "received_at": "2024-03-01T09:30:00+08:00",
        "petitioners": [{"name": "张三丰", "phone": "13812345678", "id_number": "11010519491231002X"}],
        "timeline": [
            {"kind": "accepted", "at": "2024-03-02 10:00:00"},
            {
                "kind": "replied",
                "at": "2024-04-10 16:00:00",
                "opinion": "已责令停止夜间施工。",
                "outcome": "supported",
            },
            {"kind": "rated", "at": "2024-04-12 09:00:00", "satisfaction": "基本满意", "comment": "处理及时"},
            {"kind": "closed", "at": "2024-04-13 09:00:00", "reason": "已书面答复，办结。"},
        ],
        **overrides,
    }


def test_json_lines_import_full_histories_with_petitioners_and_ratings(
    app: FastAPI, client: TestClient, wait_until: Callable[..., Any]
) -> None:
    lines = [
        json.dumps(jsonl_case("J-1"), ensure_ascii=False),
        json.dumps(jsonl_case("J-2", timeline=[{"kind": "closed", "at": "2024-03-05"}]), ensure_ascii=False),
        "{broken",
    ]
    job = finished(client, upload(client, "\n".join(lines).encode(), JSONL_TYPE)["id"], wait_until)
    assert (job["imported"], job["failed"]) == (1, 2)
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(2, "timeline[0].kind"), (3, "line")]
    assert "cannot be closed" in job["errors"][0]["reason"]
    case = petition(app, "J-1")
    assert case is not None
    assert (case.status, case.channel, case.petitioner_count, case.reply_sequence) == (
        "closed",
        "visit",
        1,
        1,
    )
    with state(app).session_factory() as session:
        rating = session.scalar(select(Rating).where(Rating.petition_id == case.id))
        assert rating is not None
        assert (rating.satisfaction, rating.comment) == ("basically_satisfied", "处理及时")
        stored = case.id
    # Petitioners are encrypted at rest like live ones: the name is nowhere in clear text.
    with state(app).engine.connect() as conn:
        raw = conn.exec_driver_sql(
            f"SELECT name_enc FROM petitioners WHERE petition_id = '{stored}'"
        ).scalar()
    assert raw
    assert "张三丰" not in raw
    topics = [e.topic for e in outbox_rows(app, stored)]
    assert topics == [
        PETITION_REGISTERED.name,
        CASE_ACCEPTED.name,
        CASE_REPLIED.name,
        CASE_RATED.name,
        CASE_CLOSED.name,
    ]
    assert "张三丰" not in b"".join(e.payload for e in outbox_rows(app, stored)).decode()


def test_an_xlsx_workbook_is_imported_with_the_format_taken_from_the_content_type(
    app: FastAPI, client: TestClient, wait_until: Callable[..., Any]
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "title", "content", "received_at", "accepted_at", "unit_code", "region"])
    sheet.append(
        [
            "X-1",
            "道路破损",
            "道路破损严重。",
            datetime(2023, 5, 1, 9, 0),
            datetime(2023, 5, 2, 9, 0),
            "430102-jtj",
            430102,
        ]
    )
    sheet.append(["X-2", "道路破损", "道路破损严重。", "not a time", None, None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    job = finished(
        client, upload(client, buffer.getvalue(), XLSX_TYPE, filename="legacy.xlsx")["id"], wait_until
    )
    assert job["format"] == "xlsx"
    assert (job["imported"], job["failed"]) == (1, 1)
    assert [(e["line"], e["external_id"], e["field"]) for e in job["errors"]] == [(3, "X-2", "received_at")]
    case = petition(app, "X-1")
    assert case is not None
    assert (case.status, case.region, case.assigned_unit_code) == ("accepted", "430102", "430102-jtj")


def test_an_unreadable_file_fails_the_job_with_the_reason(
    client: TestClient, wait_until: Callable[..., Any]
) -> None:
    job = finished(client, upload(client, b"PK\x03\x04garbage", XLSX_TYPE)["id"], wait_until)
    assert job["status"] == "failed"
    assert "XLSX" in job["failure"]
    assert job["imported"] == 0
    no_header = finished(client, upload(client, b"foo,bar\n1,2\n", CSV_TYPE)["id"], wait_until)
    assert no_header["status"] == "failed"
    assert "external_id" in no_header["failure"]


def test_uploads_that_cannot_become_jobs_get_a_4xx_naming_the_problem(
    intake_app: Callable[..., FastAPI],
) -> None:
    app = intake_app(relay_enabled=False, consumer_enabled=False, import_max_bytes=100)
    with staff_client(app) as client:
        too_big = client.post("/v1/imports", content=b"x" * 101, headers={"Content-Type": CSV_TYPE})
        assert too_big.status_code == 413
        assert too_big.json()["error"] == "ImportTooLarge"
        empty = client.post("/v1/imports", content=b"", headers={"Content-Type": CSV_TYPE})
        assert empty.status_code == 422
        assert empty.json()["fields"][0]["field"] == "body"
        unknown = client.post(
            "/v1/imports", content=b"a,b\n", headers={"Content-Type": "application/octet-stream"}
        )
        assert unknown.status_code == 422
        assert unknown.json()["fields"][0]["field"] == "query.format"
        by_name = client.post(
            "/v1/imports",
            params={"filename": "old.csv"},
            content=b"a\n",
            headers={"Content-Type": "application/octet-stream"},
        )
        assert by_name.status_code == 202
        assert client.get("/v1/imports/no-such-job").status_code == 404
        assert client.get("/v1/imports/no-such-job/errors").status_code == 404
        job_id = by_name.json()["id"]
        bad_cursor = client.get(f"/v1/imports/{job_id}/errors", params={"cursor": "nonsense"})
        assert bad_cursor.status_code == 422


def test_every_row_error_can_be_read_page_by_page(client: TestClient, wait_until: Callable[..., Any]) -> None:
    rows = "".join(f"E-{n},,内容,2019-04-25 09:32:09\n" for n in range(5))
    job = finished(client, upload(client, f"id,title,body,time\n{rows}".encode(), CSV_TYPE)["id"], wait_until)
    assert job["failed"] == 5
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get(job["links"]["errors"], params=params).json()
        seen.extend(e["line"] for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [2, 3, 4, 5, 6]


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, no lease is given back."""


def queued_job(client: TestClient, count: int) -> tuple[str, list[str]]:
    ids = [f"R-{n}" for n in range(count)]
    lines = [json.dumps(jsonl_case(i), ensure_ascii=False) for i in ids]
    return upload(client, "\n".join(lines).encode(), JSONL_TYPE)["id"], ids


def test_a_job_resumes_where_a_stopped_runner_left_it(intake_app: Callable[..., FastAPI]) -> None:
    app = intake_app(relay_enabled=False, consumer_enabled=False, import_runner_enabled=False)
    with staff_client(app) as client:
        job_id, ids = queued_job(client, 5)
        s = state(app)
        first = ImportRunner(s.session_factory, s.cipher, default_region="430100", batch_size=2)
        first.after_batch = lambda _job, _done: first.request_stop()
        assert first.run_once()
        halfway = client.get(f"/v1/imports/{job_id}").json()
        assert (halfway["status"], halfway["processed"], halfway["imported"], halfway["total"]) == (
            "running",
            2,
            2,
            5,
        )

        second = ImportRunner(s.session_factory, s.cipher, default_region="430100", batch_size=2)
        assert second.run_once()
        job = client.get(f"/v1/imports/{job_id}").json()
    assert (job["status"], job["processed"], job["imported"], job["skipped_existing"]) == ("done", 5, 5, 0)
    with s.session_factory() as session:
        assert sorted(session.scalars(select(Petition.external_id))) == ids
        registered = select(func.count()).where(OutboxMessage.topic == PETITION_REGISTERED.name)
        assert session.scalar(registered) == 5


def test_a_job_whose_runner_died_is_taken_over_once_its_lease_runs_out(
    intake_app: Callable[..., FastAPI],
) -> None:
    app = intake_app(relay_enabled=False, consumer_enabled=False, import_runner_enabled=False)
    with staff_client(app) as client:
        job_id, ids = queued_job(client, 5)
        s = state(app)

        def crash(_job: str, _done: int) -> None:
            raise Crash

        dead = ImportRunner(s.session_factory, s.cipher, default_region="430100", batch_size=2)
        dead.after_batch = crash
        with pytest.raises(Crash):
            dead.run_once()
        alive = ImportRunner(s.session_factory, s.cipher, default_region="430100", batch_size=2)
        # The dead runner's lease still holds: nobody else may take the job yet.
        assert not alive.run_once()
        later = ImportRunner(
            s.session_factory,
            s.cipher,
            default_region="430100",
            batch_size=2,
            clock=lambda: datetime.now(UTC) + timedelta(minutes=10),
        )
        assert later.run_once()
        job = client.get(f"/v1/imports/{job_id}").json()
    assert (job["status"], job["processed"], job["imported"], job["failed"]) == ("done", 5, 5, 0)
    with s.session_factory() as session:
        assert sorted(session.scalars(select(Petition.external_id))) == ids
        stored = session.scalar(select(ImportJob).where(ImportJob.id == job_id))
        assert stored is not None
        assert stored.lease_owner is None


def test_routing_assignment_of_an_imported_case_keeps_its_status(
    app: FastAPI, client: TestClient, wait_until: Callable[..., Any]
) -> None:
    lines = [
        json.dumps(jsonl_case("A-1"), ensure_ascii=False),
        json.dumps(jsonl_case("A-2", unit_code=None, timeline=[]), ensure_ascii=False),
    ]
    job = finished(client, upload(client, "\n".join(lines).encode(), JSONL_TYPE)["id"], wait_until)
    assert job["imported"] == 2
    closed_id, open_id = case_id_for("A-1"), case_id_for("A-2")
    registered_at = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    for case_id in (closed_id, open_id):
        event = example_event(
            CASE_ASSIGNED,
            case_id,
            unit_code="430104-zjj",
            unit_name="岳麓区住房和城乡建设局",
            assigned_at=registered_at,
        )
        assert (
            apply_message(state(app).session_factory, event.to_json_bytes(), key=case_id.encode())
            == "applied"
        )
    closed = petition(app, "A-1")
    assert closed is not None
    assert closed.status == "closed"
    assert (closed.assigned_unit_code, closed.assigned_unit_name) == ("430104-zjj", "岳麓区住房和城乡建设局")
    assert closed.assigned_at == registered_at
    with state(app).session_factory() as session:
        kinds = list(
            session.scalars(
                select(TimelineEntry.kind)
                .where(TimelineEntry.petition_id == closed_id)
                .order_by(TimelineEntry.id)
            )
        )
    assert kinds[-1] == "assigned"
    # An imported case with no history and no unit is routed like a live one.
    opened = petition(app, "A-2")
    assert opened is not None
    assert (opened.status, opened.assigned_unit_code) == ("routed", "430104-zjj")
