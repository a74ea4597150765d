"""Reading legacy files (JSON Lines, CSV, XLSX) row by row into ImportedCase.

JSON Lines carries one case per line with a nested ``timeline`` and ``petitioners``; CSV and
XLSX carry one case per row in flat columns (see ``CASE_COLUMNS``, ``STEP_COLUMNS`` and
``PETITIONER_COLUMNS``; ``ALIASES`` maps other common names onto them; unknown columns are
ignored). Every row keeps its line number (the XLSX row number) for error reports.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError

from intake.imports.schemas import ImportedCase, ImportFormat, StepKind

CASE_COLUMNS = (
    "external_id",
    "channel",
    "petition_type",
    "category",
    "title",
    "content",
    "region",
    "subject_unit",
    "unit_code",
    "received_at",
    "registered_at",
)
"""Flat columns that are fields of the case itself."""

STEP_COLUMNS: dict[StepKind, tuple[str, dict[str, str]]] = {
    StepKind.ACCEPTED: ("accepted_at", {}),
    StepKind.DECLINED: ("declined_at", {"reason": "decline_reason"}),
    StepKind.EXTENDED: (
        "extended_at",
        {"days": "extension_days", "reason": "extension_reason", "approver": "extension_approver"},
    ),
    StepKind.REPLIED: ("replied_at", {"opinion": "opinion", "outcome": "outcome"}),
    StepKind.CLOSED: ("closed_at", {}),
    StepKind.RATED: ("rated_at", {"satisfaction": "satisfaction"}),
}
"""Per kind of step: the column with its time and the columns of its fields (step field -> column)."""

PETITIONER_COLUMNS = {
    "petitioner_name": "name",
    "petitioner_id_number": "id_number",
    "petitioner_phone": "phone",
    "petitioner_address": "address",
}
"""Flat columns of the one petitioner a flat row can carry."""

ALIASES = {
    "id": "external_id",
    "time": "received_at",
    "reply_time": "replied_at",
    "reply": "opinion",
    "body": "content",
}
"""Other names for columns (and JSON keys), as common exports of legacy systems have them."""

REQUIRED_COLUMNS = ("external_id", "title", "content", "received_at")
"""Columns without which no row of a flat file could be imported: the file is refused."""

_FLAT_KEYS = frozenset(PETITIONER_COLUMNS) | {
    c for at, fields in STEP_COLUMNS.values() for c in (at, *fields.values())
}


_CODE_KEYS = frozenset({"external_id", "region", "unit_code", "subject_unit"})


class FileUnreadable(ValueError):
    """The file as a whole cannot be read in the format given."""


@dataclass(frozen=True)
class RowError:
    """One thing wrong with a row: the field (as the file names it) and why."""

    field: str
    reason: str


@dataclass(frozen=True)
class SourceRow:
    """A record as read from the file, or why it could not be read."""

    line: int
    fields: dict[str, Any] | None
    errors: list[RowError] = field(default_factory=list)
    flat: bool = True

    @property
    def external_id(self) -> str | None:
        """The row's external id, if it has a usable one (for error reports)."""
        value = (self.fields or {}).get("external_id")
        return str(value)[:100] if value not in (None, "") else None


def _decode_text(data: bytes) -> str:
    """Text of a CSV: UTF-8 (with or without BOM), else GB18030 as older Chinese systems export."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise FileUnreadable("the file is neither UTF-8 nor GB18030 text") from exc


def _column(name: Any) -> str:
    key = str(name).strip().lower() if name is not None else ""
    return ALIASES.get(key, key)


def _cell(value: Any) -> Any:
    """A cell as the model expects it: blanks absent, numbers as text (ids, codes, phones)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool | datetime):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_header(columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FileUnreadable(
            f"the header lacks the column(s) {', '.join(missing)} (aliases: id, body, time); "
            f"it has: {', '.join(c for c in columns if c) or 'nothing'}"
        )


def read_csv(data: bytes) -> Iterator[SourceRow]:
    """The records of a CSV file with a header row; the line is where the record starts."""
    reader = csv.reader(io.StringIO(_decode_text(data), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise FileUnreadable("the file is empty")
        columns = [_column(name) for name in header]
        _check_header(columns)
        line = reader.line_num + 1
        for values in reader:
            if any(v.strip() for v in values):
                record = {c: _cell(v) for c, v in zip(columns, values, strict=False) if c}
                yield SourceRow(line=line, fields=record)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise FileUnreadable(f"not a readable CSV file at line {reader.line_num}: {exc}") from exc


def read_jsonl(data: bytes) -> Iterator[SourceRow]:
    """The records of a JSON Lines file, one JSON object per line; blank lines are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileUnreadable(f"JSON Lines must be UTF-8: byte {exc.start} is not") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield SourceRow(
                number, None, [RowError("line", f"not valid JSON: {exc.msg} at column {exc.colno}")]
            )
            continue
        if not isinstance(record, dict):
            yield SourceRow(number, None, [RowError("line", "not a JSON object")])
            continue
        fields = {ALIASES.get(str(k), str(k)): v for k, v in record.items()}
        for key in _CODE_KEYS & fields.keys():
            # Legacy exports write numeric ids as JSON numbers.
            if isinstance(fields[key], int) and not isinstance(fields[key], bool):
                fields[key] = str(fields[key])
        # A JSON line with flat columns (as a converted spreadsheet has) is read as a flat row.
        flat = "timeline" not in fields and "petitioners" not in fields and bool(_FLAT_KEYS & fields.keys())
        yield SourceRow(number, fields, flat=flat)


# What openpyxl raises on a file that is not a workbook or is damaged (its XML parser's
# errors are SyntaxError subclasses).
_XLSX_ERRORS = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    OSError,
    ValueError,
    TypeError,
    SyntaxError,
)


def read_xlsx(data: bytes) -> Iterator[SourceRow]:
    """The rows of the first sheet of a workbook; the first non-empty row is the header."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _XLSX_ERRORS as exc:
        raise FileUnreadable(f"not a readable XLSX workbook: {exc}") from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise FileUnreadable("the workbook has no sheet")
        columns: list[str] | None = None
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if all(c is None for c in cells):
                continue
            if columns is None:
                columns = [_column(v) for v in values]
                _check_header(columns)
                continue
            record = {c: v for c, v in zip(columns, cells, strict=False) if c}
            yield SourceRow(line=number, fields=record)
        if columns is None:
            raise FileUnreadable("the first sheet is empty")
    except FileUnreadable:
        raise
    except _XLSX_ERRORS as exc:
        raise FileUnreadable(f"not a readable XLSX workbook: {exc}") from exc
    finally:
        workbook.close()


_READERS: dict[ImportFormat, Callable[[bytes], Iterator[SourceRow]]] = {
    ImportFormat.CSV: read_csv,
    ImportFormat.JSONL: read_jsonl,
    ImportFormat.XLSX: read_xlsx,
}


def read_rows(fmt: ImportFormat, data: bytes) -> Iterator[SourceRow]:
    """Every record of the file in order; raises FileUnreadable when the file as a whole is bad."""
    return _READERS[fmt](data)


def _flat_to_nested(record: Mapping[str, Any]) -> dict[str, Any]:
    """A flat row as the nested shape of ImportedCase (steps in the order of STEP_COLUMNS)."""
    nested: dict[str, Any] = {k: v for k, v in record.items() if k not in _FLAT_KEYS and v is not None}
    timeline: list[dict[str, Any]] = []
    for kind, (at_column, fields) in STEP_COLUMNS.items():
        values = {name: record.get(column) for name, column in fields.items()}
        given = {name: value for name, value in values.items() if value is not None}
        at = record.get(at_column)
        if at is None:
            if given:
                columns = ", ".join(fields[name] for name in given)
                raise _Unmappable(at_column, f"required when {columns} is given")
            continue
        timeline.append({"kind": kind.value, "at": at, **given})
    nested["timeline"] = timeline
    petitioner = {
        name: record.get(col) for col, name in PETITIONER_COLUMNS.items() if record.get(col) is not None
    }
    nested["petitioners"] = [petitioner] if petitioner else []
    return nested


class _Unmappable(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _field_name(loc: tuple[Any, ...], nested: Mapping[str, Any], flat: bool) -> str:
    """Name a field the way the file does: the flat column, or a path like timeline[2].opinion."""
    if not loc:
        return "row"
    head = str(loc[0])
    if flat and head == "timeline" and len(loc) >= 2 and isinstance(loc[1], int):
        step = nested["timeline"][loc[1]]
        at_column, fields = STEP_COLUMNS[StepKind(step["kind"])]
        name = str(loc[2]) if len(loc) > 2 else "at"
        return at_column if name in ("at", "kind") else fields.get(name, at_column)
    if flat and head == "petitioners" and len(loc) >= 3:
        by_field = {v: k for k, v in PETITIONER_COLUMNS.items()}
        return by_field.get(str(loc[2]), "petitioner_name")
    if flat and head == "petitioners":
        return "petitioner_name"
    path = head
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def flat_field(name: str, case: ImportedCase) -> str:
    """The flat column for a field path of a validated case (``timeline[1].opinion`` -> ``opinion``)."""
    if name.startswith("timeline[") and "]" in name:
        index = int(name[len("timeline[") : name.index("]")])
        rest = name[name.index("]") + 2 :] if "." in name[name.index("]") :] else "at"
        if 0 <= index < len(case.timeline):
            at_column, fields = STEP_COLUMNS[case.timeline[index].kind]
            return at_column if rest in ("at", "kind") else fields.get(rest, at_column)
    return name


@dataclass(frozen=True)
class Defaults:
    """Values a row takes when it does not give its own."""

    region: str
    unit_code: str | None = None


def _nul_path(value: Any, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Where a NUL character hides in a row's values, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _nul_path(item, (*path, key))
        if found is not None:
            return found
    return None


def to_case(row: SourceRow, defaults: Defaults) -> ImportedCase | list[RowError]:
    """The validated case of a row, or every error found in it (fields named as the file names them)."""
    if row.fields is None:
        return row.errors
    try:
        nested = _flat_to_nested(row.fields) if row.flat else dict(row.fields)
    except _Unmappable as exc:
        return [RowError(exc.field, exc.reason)]
    nul = _nul_path(nested, ())
    if nul is not None:
        # PostgreSQL cannot store it; refused here so that no query ever carries it.
        return [RowError(_field_name(nul, nested, row.flat), "must not contain NUL characters")]
    if nested.get("region") in (None, ""):
        nested["region"] = defaults.region
    if nested.get("unit_code") in (None, "") and defaults.unit_code:
        nested["unit_code"] = defaults.unit_code
    try:
        case = ImportedCase.model_validate(nested)
    except ValidationError as exc:
        return [
            RowError(_field_name(tuple(e["loc"]), nested, row.flat), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
    if row.flat:
        # Flat columns say when, not in which order: the timeline is their time order (a
        # rating may follow the closing).
        case = case.model_copy(update={"timeline": sorted(case.timeline, key=lambda s: s.at)})
    return case
