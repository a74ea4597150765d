"""The input validators under generated input: a clear ValueError or a normalised value, nothing else."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from intake.petitions.schemas import PetitionCreate, validate_id_number, validate_phone
from xinfang_common.domain import RegionCode

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def with_checksum(first17: str) -> str:
    """Complete 17 digits into a resident ID number with its GB 11643 check character."""
    return first17 + CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


valid_ids = st.builds(
    lambda region, born, seq: with_checksum(f"{region}{born:%Y%m%d}{seq:03d}"),
    # Counties created after the birth year too: numbers issued later carry the new code.
    st.sampled_from(["110105", "430104", "330106", "440305", "460108", "810000"]),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(min_value=0, max_value=999),
)


@given(valid_ids)
def test_every_well_formed_id_number_is_accepted(number: str) -> None:
    assert validate_id_number(number.lower()) == number.upper()


@given(st.text(max_size=30))
@settings(max_examples=300)
def test_any_text_as_id_number_is_accepted_or_refused_with_a_reason(text: str) -> None:
    try:
        result = validate_id_number(text)
    except ValueError as exc:
        reason = str(exc)
        assert reason.startswith("not a valid resident ID number")
    else:
        assert len(result) == 18


@given(valid_ids, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_one_changed_character_is_caught(number: str, position: int, replacement: str) -> None:
    changed = number[:position] + replacement + number[position + 1 :]
    if changed != number:
        with pytest.raises(ValueError, match="not a valid resident ID number"):
            validate_id_number(changed)


@given(st.sampled_from(["130", "139", "150", "177", "186", "199"]), st.integers(0, 99_999_999))
def test_mobile_numbers_come_back_in_e164(prefix: str, rest: int) -> None:
    number = f"{prefix}{rest:08d}"
    assert validate_phone(number) == f"+86{number}"
    assert validate_phone(f"+86 {number[:3]} {number[3:7]} {number[7:]}") == f"+86{number}"


@given(st.text(max_size=25))
@settings(max_examples=300)
def test_any_text_as_phone_is_accepted_or_refused_with_a_reason(text: str) -> None:
    try:
        result = validate_phone(text)
    except ValueError as exc:
        assert "phone number" in str(exc)  # noqa: PT017 - any text, no raises
    else:
        assert result.startswith("+86")


REGION = TypeAdapter(RegionCode)


@given(st.text(max_size=8))
@settings(max_examples=300)
def test_region_codes_are_six_digits_starting_1_to_8(text: str) -> None:
    try:
        code = REGION.validate_python(text)
    except ValidationError as exc:
        assert "GB/T 2260" in str(exc)  # noqa: PT017 - any text, no raises
    else:
        assert len(code) == 6
        assert code.isascii()
        assert code.isdigit()
        assert code[0] in "12345678"


BASE = {
    "channel": "letter",
    "title": "来信反映小区供暖不足",
    "content": "小区冬季室温长期低于十八度，请求督促供热企业整改。",
    "region": "430104",
    "anonymous": True,
}


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
@settings(max_examples=200)
def test_received_at_is_never_in_the_future(received: datetime) -> None:
    now = datetime.now(UTC)
    try:
        PetitionCreate.model_validate({**BASE, "received_at": received})
    except ValidationError as exc:
        assert received > now
        assert "future" in str(exc)  # noqa: PT017 - any instant, no raises
    else:
        assert received <= now + timedelta(minutes=5)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2025, 1, 1)))
def test_received_at_without_a_time_zone_is_refused(received: datetime) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        PetitionCreate.model_validate({**BASE, "received_at": received.isoformat()})
