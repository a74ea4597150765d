"""Reading legacy files: each format, column aliases, naive times, and bad rows with their lines."""

import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from pydantic import BaseModel

from intake.imports.parsers import Defaults, FileUnreadable, RowError, SourceRow, read_rows, to_case
from intake.imports.schemas import (
    ImportAccepted,
    ImportedCase,
    ImportErrorPage,
    ImportFormat,
    ImportJobRead,
    StepKind,
)
from xinfang_common.domain import Channel, Outcome, Satisfaction

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULTS = Defaults(region="430100", unit_code="430100-xfj")


def cases(fmt: ImportFormat, data: bytes, defaults: Defaults = DEFAULTS) -> list[tuple[int, object]]:
    return [(row.line, to_case(row, defaults)) for row in read_rows(fmt, data)]


def errors_of(result: object) -> list[tuple[str, str]]:
    assert isinstance(result, list), result
    return [(e.field, e.reason) for e in result if isinstance(e, RowError)]


def test_a_csv_with_legacy_column_names_imports_directly() -> None:
    data = (
        "id,title,body,reply,time,reply_time,response_days\n"
        "2549,物业管理有问题,小区物业扬言退出。,现答复如下：已督促整改。,2019-04-25 09:32:09,"
        "2019-05-10 14:56:53,15.23\n"
    ).encode()
    [(line, case)] = cases(ImportFormat.CSV, data)
    assert line == 2
    assert isinstance(case, ImportedCase)
    assert case.external_id == "2549"
    assert case.content == "小区物业扬言退出。"
    assert case.region == "430100"
    assert case.unit_code == "430100-xfj"
    assert case.channel is Channel.ONLINE
    # Naive legacy times are Beijing time.
    assert case.received_at == datetime(2019, 4, 25, 9, 32, 9, tzinfo=SHANGHAI)
    assert case.received_at.astimezone(UTC) == datetime(2019, 4, 25, 1, 32, 9, tzinfo=UTC)
    [reply] = case.timeline
    assert reply.kind is StepKind.REPLIED
    assert reply.opinion == "现答复如下：已督促整改。"
    assert reply.at == datetime(2019, 5, 10, 14, 56, 53, tzinfo=SHANGHAI)


def test_a_flat_row_carries_every_step_and_one_petitioner_in_time_order() -> None:
    header = (
        "external_id,channel,petition_type,title,content,region,unit_code,received_at,accepted_at,"
        "extended_at,extension_days,extension_reason,extension_approver,replied_at,opinion,outcome,"
        "closed_at,rated_at,satisfaction,petitioner_name,petitioner_phone,petitioner_id_number\n"
    )
    row = (
        "L-1,来信,申诉求决类,噪音扰民,夜间施工。,430104,430104-zjj,2019-03-01T08:00:00+08:00,"
        "2019/03/02 09:00,2019-04-20 10:00,30,需现场核查,head-1,2019-05-20 10:00,已处理,支持,"
        "2019-05-21 10:00,2019-05-25 10:00,基本满意,张三丰,13812345678,11010519491231002x\n"
    )
    [(_, case)] = cases(ImportFormat.CSV, (header + row).encode())
    assert isinstance(case, ImportedCase)
    assert case.channel is Channel.LETTER
    assert [s.kind for s in case.timeline] == [
        StepKind.ACCEPTED,
        StepKind.EXTENDED,
        StepKind.REPLIED,
        StepKind.CLOSED,
        StepKind.RATED,
    ]
    extended = case.timeline[1]
    assert (extended.days, extended.reason, extended.approver) == (30, "需现场核查", "head-1")
    assert case.timeline[2].outcome is Outcome.SUPPORTED
    assert case.timeline[4].satisfaction is Satisfaction.BASICALLY_SATISFIED
    [person] = case.petitioners
    assert person.name == "张三丰"
    assert person.phone == "+8613812345678"
    assert person.id_number == "11010519491231002X"


def test_bad_csv_rows_are_reported_with_their_line_and_column_and_the_rest_read() -> None:
    data = (
        "external_id,title,content,received_at,declined_at,decline_reason,petitioner_name,petitioner_phone\n"
        'A-1,标题,"第一行\n第二行",2019-04-25 09:32:09,,,,\n'  # a quoted field over two lines
        "A-2,,内容,2019-04-25 09:32:09,,,,\n"
        "A-3,标题,内容,yesterday,,,,\n"
        "A-4,标题,内容,2019-04-25 09:32:09,,不予受理的理由,,\n"
        "A-5,标题,内容,2019-04-25 09:32:09,,,李四,12345\n"
        "A-6,标题,内容,2019-04-25 09:32:09,,,,\n"
    ).encode()
    results = cases(ImportFormat.CSV, data)
    assert [line for line, _ in results] == [2, 4, 5, 6, 7, 8]
    assert isinstance(results[0][1], ImportedCase)
    assert results[0][1].content == "第一行\n第二行"
    assert [f for f, _ in errors_of(results[1][1])] == ["title"]
    assert [f for f, _ in errors_of(results[2][1])] == ["received_at"]
    assert "not a date and time" in errors_of(results[2][1])[0][1]
    assert errors_of(results[3][1]) == [("declined_at", "required when decline_reason is given")]
    assert [f for f, _ in errors_of(results[4][1])] == ["petitioner_phone"]
    assert isinstance(results[5][1], ImportedCase)


def test_a_csv_without_the_columns_every_row_needs_is_refused_whole() -> None:
    with pytest.raises(FileUnreadable, match="external_id"):
        list(read_rows(ImportFormat.CSV, b"title,content,received_at\nx,y,2019-01-01\n"))
    with pytest.raises(FileUnreadable, match="empty"):
        list(read_rows(ImportFormat.CSV, b""))


def test_a_gb18030_csv_from_an_older_system_is_read() -> None:
    data = "id,title,body,time\n7,噪音扰民,夜间施工。,2019-04-25 09:32:09\n".encode("gb18030")
    [(_, case)] = cases(ImportFormat.CSV, data)
    assert isinstance(case, ImportedCase)
    assert case.title == "噪音扰民"


def test_json_lines_keep_their_physical_line_numbers_and_nested_timelines() -> None:
    good = {
        "external_id": 2554,
        "title": "噪音",
        "content": "夜间施工。",
        "received_at": "2019-04-24T16:03:40+08:00",
        "petitioners": [{"name": "王五"}],
        "timeline": [
            {"kind": "accepted", "at": "2019-04-25 09:00:00"},
            {"kind": "replied", "at": "2019-05-09 09:49:10", "opinion": "已处理。", "outcome": "explained"},
            {"kind": "rated", "at": "2019-05-10 09:00:00", "satisfaction": "满意", "comment": "谢谢"},
        ],
    }
    lines = [
        json.dumps(good, ensure_ascii=False),
        "",
        "{not json",
        "[1, 2]",
        json.dumps({**good, "external_id": "X-2", "timeline": [{"kind": "replied", "at": "2019-05-09"}]}),
    ]
    results = cases(ImportFormat.JSONL, "\n".join(lines).encode())
    assert [line for line, _ in results] == [1, 3, 4, 5]
    case = results[0][1]
    assert isinstance(case, ImportedCase)
    assert case.external_id == "2554"
    assert case.timeline[2].satisfaction is Satisfaction.SATISFIED
    assert case.timeline[2].comment == "谢谢"
    assert [f for f, _ in errors_of(results[1][1])] == ["line"]
    assert "not valid JSON" in errors_of(results[1][1])[0][1]
    assert errors_of(results[2][1]) == [("line", "not a JSON object")]
    # Validated later (by the timeline replay): the model itself takes a reply without opinion.
    assert isinstance(results[3][1], ImportedCase)


def test_json_lines_name_bad_nested_fields_by_path() -> None:
    line = {
        "external_id": "J-1",
        "title": "t",
        "content": "c",
        "received_at": "2019-04-24 16:03:40",
        "timeline": [
            {"kind": "accepted", "at": "2019-04-25"},
            {"kind": "rated", "at": "2019-04-26", "days": 99},
        ],
    }
    [(_, result)] = cases(ImportFormat.JSONL, json.dumps(line).encode())
    assert [f for f, _ in errors_of(result)] == ["timeline[1].days"]


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_sheet_is_read_with_row_numbers_and_date_cells() -> None:
    data = xlsx(
        [
            [],
            ["ID", "Title", "Body", "Time", "Reply", "Reply_Time", "unknown"],
            [
                2549,
                "物业管理",
                "内容",
                datetime(2019, 4, 25, 9, 32, 9),
                "答复",
                datetime(2019, 5, 10, 14, 56),
                1.5,
            ],
            [2550, "", "内容", "2019-04-25 09:32:09", None, None, None],
        ]
    )
    results = cases(ImportFormat.XLSX, data)
    assert [line for line, _ in results] == [3, 4]
    case = results[0][1]
    assert isinstance(case, ImportedCase)
    assert case.external_id == "2549"
    assert case.received_at == datetime(2019, 4, 25, 9, 32, 9, tzinfo=SHANGHAI)
    assert case.timeline[0].opinion == "答复"
    assert [f for f, _ in errors_of(results[1][1])] == ["title"]


def test_a_damaged_workbook_is_refused_whole() -> None:
    with pytest.raises(FileUnreadable, match="XLSX"):
        list(read_rows(ImportFormat.XLSX, b"PK\x03\x04 not really a zip"))
    with pytest.raises(FileUnreadable, match="XLSX"):
        list(read_rows(ImportFormat.XLSX, b"id,title\n1,2\n"))


def test_times_in_the_future_and_numbers_are_refused() -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    row = SourceRow(
        line=9,
        fields={"external_id": "F-1", "title": "t", "content": "c", "received_at": future},
        flat=False,
    )
    assert errors_of(to_case(row, DEFAULTS)) == [("received_at", "must not lie in the future")]
    numeric = SourceRow(
        line=9,
        fields={"external_id": "F-2", "title": "t", "content": "c", "received_at": 1556155929},
        flat=False,
    )
    assert [f for f, _ in errors_of(to_case(numeric, DEFAULTS))] == ["received_at"]


@pytest.mark.parametrize(
    "model", [ImportedCase, ImportAccepted, ImportJobRead, ImportErrorPage], ids=lambda m: m.__name__
)
def test_each_documented_example_is_valid(model: type[BaseModel]) -> None:
    examples = model.model_json_schema().get("examples", [])
    assert examples
    for example in examples:
        model.model_validate(example)


def test_a_nul_character_anywhere_in_a_row_is_a_row_error_naming_the_field() -> None:
    row = SourceRow(
        line=4,
        fields={
            "external_id": "N-1",
            "title": "t",
            "content": "c",
            "received_at": "2019-04-25 09:32:09",
            "timeline": [{"kind": "replied", "at": "2019-05-01", "opinion": "bad\x00text"}],
        },
        flat=False,
    )
    assert errors_of(to_case(row, DEFAULTS)) == [("timeline[0].opinion", "must not contain NUL characters")]
    flat = SourceRow(
        line=5, fields={"external_id": "N-2\x00", "title": "t", "content": "c", "received_at": "2019-04-25"}
    )
    assert errors_of(to_case(flat, DEFAULTS)) == [("external_id", "must not contain NUL characters")]
