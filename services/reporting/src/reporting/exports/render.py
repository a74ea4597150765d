"""KPI tables and the Art. 41 annual report as CSV and XLSX, with Chinese headers.

Only aggregates reach a file: the rows are groups (units, categories, months...), never a
case, a petitioner or a title.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reporting.kpis.schemas import KpiRead, Kpis

CHANNEL_NAMES = {
    "letter": "来信",
    "visit": "来访",
    "phone": "来电",
    "online": "网上信访",
    "forwarded": "转送",
}
TYPE_NAMES = {"suggestion": "建议意见类", "report": "检举控告类", "claim": "申诉求决类"}
STAGE_NAMES = {
    "awaiting_assignment": "待转送交办",
    "awaiting_acceptance": "待受理",
    "in_progress": "办理中",
    "replied": "已答复",
    "review": "复查中",
    "recheck": "复核中",
    "closed": "已办结",
    "declined": "不予受理",
}

KPI_HEADERS = (
    "分组",
    "名称",
    "登记件数",
    "导入历史件数",
    "及时受理件数",
    "应受理件数",
    "及时受理率",
    "按期办结件数",
    "应办结件数",
    "按期办结率",
    "参评件数",
    "已答复件数",
    "参评率",
    "满意件数",
    "评价件数",
    "满意率",
    "重复信访件数",
    "重复信访率",
    "平均办理天数",
    "办理天数中位数",
    "办理天数P90",
    "办理天数P95",
    "超期件数",
    "督办件数",
    "当前超期未办件数",
)
RATE_COLUMNS = ("及时受理率", "按期办结率", "参评率", "满意率")


def kpi_row(key: str, label: str, k: Kpis) -> list[Any]:
    """One line of the KPI table."""
    h = k.handling_days
    return [
        key,
        label,
        k.cases,
        k.imported,
        k.timely_acceptance.numerator,
        k.timely_acceptance.denominator,
        k.timely_acceptance.rate,
        k.on_time_completion.numerator,
        k.on_time_completion.denominator,
        k.on_time_completion.rate,
        k.participation.numerator,
        k.participation.denominator,
        k.participation.rate,
        k.satisfaction.numerator,
        k.satisfaction.denominator,
        k.satisfaction.rate,
        k.repeat_rate.numerator,
        k.repeat_rate.rate,
        h.mean,
        h.p50,
        h.p90,
        h.p95,
        k.overdue,
        k.supervised,
        k.past_due_open,
    ]


def kpi_rows(result: KpiRead) -> list[list[Any]]:
    """The groups (if any), then the total line."""
    rows = [kpi_row(g.key or "(无)", g.label or "(无)", g) for g in result.groups or []]
    rows.append(kpi_row("合计", "合计", result.total))
    return rows


def kpis_csv(result: KpiRead) -> bytes:
    """The KPI table as UTF-8 CSV with a byte-order mark (so that Excel reads the Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(KPI_HEADERS)
    for row in kpi_rows(result):
        writer.writerow(["" if value is None else value for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _cell(value: Any) -> Any:
    # XML 1.0 has no control characters; a unit code or name from a request or an event may
    # carry one, and openpyxl refuses the whole workbook for it.
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def _write_table(sheet: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    sheet.append(list(headers))
    for row in rows:
        sheet.append([_cell(value) for value in row])
    for index, column in enumerate(sheet.iter_cols(), start=1):
        widest = max(len(str(cell.value or "")) for cell in column)
        sheet.column_dimensions[get_column_letter(index)].width = max(10, min(40, widest * 2))


def _bar_chart(
    title: str, data_sheet: Worksheet, *, data_columns: Sequence[int], rows: int, y_title: str
) -> BarChart:
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    chart.height = 10
    chart.width = 24
    for column in data_columns:
        data = Reference(data_sheet, min_col=column, min_row=1, max_row=rows + 1)
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(data_sheet, min_col=2, min_row=2, max_row=rows + 1))
    return chart


def _to_bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def kpis_xlsx(result: KpiRead) -> bytes:
    """The KPI table on sheet 指标 and a bar chart of the four rates on sheet 图表."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "指标"
    rows = kpi_rows(result)
    _write_table(sheet, KPI_HEADERS, rows)
    charts = book.create_sheet("图表")
    columns = [KPI_HEADERS.index(name) + 1 for name in RATE_COLUMNS]
    charts.add_chart(
        _bar_chart("考核指标", sheet, data_columns=columns, rows=len(rows), y_title="比率"), "A1"
    )
    notes = book.create_sheet("说明")
    notes.append(["统计截止时间 (as of)", result.as_of.isoformat()])
    notes.append(["生成时间", result.generated_at.isoformat()])
    notes.append(["口径", "按登记时间统计；仅含汇总数据，不含任何信访人信息或事项标题"])
    return _to_bytes(book)


@dataclass
class AnnualReport:
    """The contents of the annual report of Art. 41, all counts."""

    year: int
    scope: str
    total: Kpis
    by_channel: list[tuple[str, int]]
    by_type: list[tuple[str, int]]
    by_month: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    subject_units: list[tuple[str, str, int]]
    """(code, name, cases) of the units most complained about."""
    forwarding: dict[str, int] = field(default_factory=dict)
    """转送/交办 and supervision counts, by their Chinese names."""


def annual_report_xlsx(report: AnnualReport) -> bytes:
    """The annual report workbook: volumes, subject areas, units complained about, forwarding."""
    book = Workbook()
    volumes = book.active
    assert volumes is not None
    volumes.title = "总体情况"
    k = report.total
    _write_table(
        volumes,
        ("项目", "数值"),
        [
            ("年度", report.year),
            ("范围", report.scope),
            ("登记信访事项总量", k.cases),
            ("其中导入历史件", k.imported),
            ("及时受理率", k.timely_acceptance.rate),
            ("按期办结率", k.on_time_completion.rate),
            ("参评率", k.participation.rate),
            ("满意率", k.satisfaction.rate),
            ("重复信访率", k.repeat_rate.rate),
            ("平均办理天数", k.handling_days.mean),
            *[(f"渠道：{name}", n) for name, n in report.by_channel],
            *[(f"类型：{name}", n) for name, n in report.by_type],
            *[(f"状态：{STAGE_NAMES[s]}", n) for s, n in k.by_status.items()],
        ],
    )
    months = book.create_sheet("月度分布")
    _write_table(months, ("月份", "登记件数"), report.by_month)
    # _bar_chart takes its categories from column 2 (a group's name); months are in column 1.
    chart = BarChart()
    chart.type = "col"
    chart.title = f"{report.year}年各月登记量"
    chart.add_data(
        Reference(months, min_col=2, min_row=1, max_row=len(report.by_month) + 1), titles_from_data=True
    )
    chart.set_categories(Reference(months, min_col=1, min_row=2, max_row=len(report.by_month) + 1))
    chart.width = 24
    chart.height = 10
    book.create_sheet("图表").add_chart(chart, "A1")
    _write_table(book.create_sheet("事项分类"), ("事项分类", "件数"), report.by_category)
    _write_table(book.create_sheet("被投诉单位"), ("单位代码", "单位名称", "件数"), report.subject_units)
    _write_table(book.create_sheet("转送与督办"), ("项目", "数值"), list(report.forwarding.items()))
    return _to_bytes(book)
