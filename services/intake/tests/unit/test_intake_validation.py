"""Validation of petitions at registration: every bad field is named with the reason."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from intake.petitions.schemas import PetitionCreate


def bad_fields(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        PetitionCreate.model_validate(body)
    return {".".join(str(p) for p in err["loc"]): err["msg"] for err in info.value.errors()}


def test_valid_body_is_accepted_and_normalised(petition_body: Callable[..., dict[str, Any]]) -> None:
    body = petition_body(
        petitioners=[{"name": " 张三 ", "id_number": "11010519491231002x", "phone": "138 1234 5678"}]
    )
    petition = PetitionCreate.model_validate(body)
    person = petition.petitioners[0]
    assert person.name == "张三"
    assert person.id_number == "11010519491231002X"
    assert person.phone == "+8613812345678"
    assert petition.petitioner_count == 1


def test_every_bad_field_is_named(petition_body: Callable[..., dict[str, Any]]) -> None:
    body = petition_body(channel="fax", title="", content="   ", region="12345", petition_type="rumour")
    fields = bad_fields(body)
    assert set(fields) == {"channel", "title", "content", "region", "petition_type"}
    assert "6-digit" in fields["region"]


def test_unknown_fields_are_rejected(petition_body: Callable[..., dict[str, Any]]) -> None:
    fields = bad_fields(petition_body(priority="high"))
    assert fields == {"priority": "Extra inputs are not permitted"}
    nested = petition_body(petitioners=[{"name": "张三", "email": "z@example.com"}])
    assert "petitioners.0.email" in bad_fields(nested)


def test_id_number_checksum_is_verified(petition_body: Callable[..., dict[str, Any]]) -> None:
    fields = bad_fields(petition_body(petitioners=[{"name": "张三", "id_number": "110105194912310021"}]))
    assert "check digit" in fields["petitioners.0.id_number"]


@pytest.mark.parametrize("phone", ["12345", "+1 202 555 0143", "1381234567"])
def test_phone_must_be_a_valid_chinese_number(
    petition_body: Callable[..., dict[str, Any]], phone: str
) -> None:
    fields = bad_fields(petition_body(petitioners=[{"name": "张三", "phone": phone}]))
    assert "petitioners.0.phone" in fields


def test_landline_with_area_code_is_accepted(petition_body: Callable[..., dict[str, Any]]) -> None:
    petition = PetitionCreate.model_validate(
        petition_body(petitioners=[{"name": "张三", "phone": "010-62345678"}])
    )
    assert petition.petitioners[0].phone == "+861062345678"


def test_someone_must_petition_unless_anonymous(petition_body: Callable[..., dict[str, Any]]) -> None:
    body = petition_body()
    del body["petitioners"]
    assert "unless the petition is anonymous" in bad_fields(body)["petitioners"]
    anonymous = PetitionCreate.model_validate({**body, "anonymous": True})
    assert anonymous.petitioners == []
    assert anonymous.petitioner_count == 0


def test_at_most_five_representatives(petition_body: Callable[..., dict[str, Any]]) -> None:
    six = [{"name": f"代表{i}"} for i in range(6)]
    assert "at most 5" in bad_fields(petition_body(petitioners=six))["petitioners"]
    five = PetitionCreate.model_validate(petition_body(petitioners=six[:5], group_size=300))
    assert five.petitioner_count == 300


def test_group_size_cannot_be_smaller_than_the_representatives(
    petition_body: Callable[..., dict[str, Any]],
) -> None:
    body = petition_body(petitioners=[{"name": "甲"}, {"name": "乙"}], group_size=1)
    assert "group_size is 1" in bad_fields(body)["petitioners"]


def test_received_at_in_the_future_is_rejected(petition_body: Callable[..., dict[str, Any]]) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert "future" in bad_fields(petition_body(received_at=future))["received_at"]
    skewed = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    assert PetitionCreate.model_validate(petition_body(received_at=skewed)).received_at is not None


def test_received_at_needs_a_timezone(petition_body: Callable[..., dict[str, Any]]) -> None:
    assert "received_at" in bad_fields(petition_body(received_at="2026-03-02T09:30:00"))
