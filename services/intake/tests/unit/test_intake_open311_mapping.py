"""Open311 fields to petition fields, without a database."""

from typing import Any

import pytest

from intake.open311.service import (
    InvalidRequest,
    parse_body,
    petition_from_request,
    petitioner_name,
    read_request,
    status_notes,
)
from intake.petitions.models import TimelineEntry


def fields(**overrides: Any) -> dict[str, Any]:
    return {"service_code": "environmental-protection", "description": "河道有污水直排", **overrides}


def error_fields(exc: pytest.ExceptionInfo[InvalidRequest]) -> set[str]:
    return {field for field, _ in exc.value.errors}


def test_form_parsing_decodes_utf8_and_drops_blanks() -> None:
    body = "service_code=transport&description=%E5%85%AC%E4%BA%A4+%E7%AB%99&lat=&attribute%5Bregion%5D=430104"
    assert parse_body(body.encode(), "application/x-www-form-urlencoded; charset=utf-8") == {
        "service_code": "transport",
        "description": "公交 站",
        "attribute[region]": "430104",
    }


def test_json_attributes_are_flattened_like_form_keys() -> None:
    body = b'{"service_code": "transport", "attribute": {"region": "430104"}, "email": null}'
    assert parse_body(body, "application/json") == {
        "service_code": "transport",
        "attribute[region]": "430104",
    }


def test_other_media_types_are_415() -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_body(b"x", "multipart/form-data; boundary=x")
    assert exc.value.status_code == 415


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("三丰", "张", "张三丰"),
        ("Ada", "Lovelace", "Ada Lovelace"),
        (None, "王", "王"),
        ("Ada", None, "Ada"),
        (None, None, None),
    ],
)
def test_petitioner_name(first: str | None, last: str | None, expected: str | None) -> None:
    assert petitioner_name(first, last) == expected


def test_petition_defaults_to_the_jurisdiction_and_keeps_the_place() -> None:
    data = read_request(
        fields(description="  河道 有污水\n直排，" + "气味很大" * 20, address_string="湘江路口"),
        jurisdiction="430100",
    )
    petition = petition_from_request(data, default_region="430100")
    assert petition.channel == "online"
    assert petition.category == "环境保护"
    assert petition.region == "430100"
    assert petition.title == "河道 有污水 直排，" + "气味很大" * 5
    assert len(petition.title) == 30
    assert petition.content.endswith("地点：湘江路口")
    assert petition.anonymous is True


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lat": "91", "long": "112"}, "lat"),
        ({"lat": "nan", "long": "112"}, "lat"),
        ({"long": "112"}, "long"),
        ({"media_url": "file:///etc/passwd"}, "media_url"),
        ({"first_name": "名" * 25}, "first_name"),
        ({"attribute[region]": "430000"}, "attribute[region]"),
        ({"attribute[colour]": "red"}, "attribute[colour]"),
    ],
)
def test_bad_fields_are_named(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        read_request(fields(**overrides), jurisdiction="430100")
    assert error_fields(exc) == {field}


def test_status_notes_are_plain_words_without_routing_details() -> None:
    assigned = TimelineEntry(
        kind="assigned", detail={"unit_name": "岳麓区住建局", "explanation": "规则 region-category"}
    )
    assert status_notes(assigned) == "已转送岳麓区住建局办理。"
    assert status_notes(TimelineEntry(kind="registered", detail={})) == "已登记，正在转送有权处理的机关。"
    assert status_notes(TimelineEntry(kind="something-new", detail={"x": 1})) == "办理情况已更新。"
