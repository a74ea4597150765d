"""Idempotency keys: which keys are accepted and when two bodies are the same request."""

import pytest

from intake.idempotency import SCOPE_OPEN311, SCOPE_PETITIONS, IdempotentRequest, key_problem, request_hash
from intake.petitions.schemas import PetitionCreate

BODY = {
    "channel": "online",
    "title": "小区楼下夜间施工噪音扰民",
    "content": "某小区旁工地连续多日夜间施工。",
    "region": "430104",
    "petitioners": [{"name": "张三", "phone": "13812345678"}],
}


@pytest.mark.parametrize(
    "key", ["a", "7f9c2ba4-e88f-4c2b-9a1d-3c5e8b0f6d21", " ~!\"#$%&'()*+,-./:;<=>?@[]^_`{|}", "k" * 200]
)
def test_printable_ascii_keys_up_to_200_are_accepted(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "must not be empty"),
        ("k" * 201, "at most 200 characters"),
        ("查询码", "printable ASCII characters only"),
        ("new\nline", "printable ASCII characters only"),
        ("del\x7f", "printable ASCII characters only"),
    ],
)
def test_other_keys_are_refused_with_a_reason(key: str, problem: str) -> None:
    assert key_problem(key) == problem


def test_field_order_and_insignificant_spacing_do_not_change_the_hash() -> None:
    reordered = dict(reversed(list(BODY.items())))
    padded = {
        **BODY,
        "title": f"  {BODY['title']} ",
        "petitioners": [{"phone": "138 1234 5678", "name": "张三"}],
    }
    hashes = {request_hash(PetitionCreate.model_validate(b)) for b in (BODY, reordered, padded)}
    assert len(hashes) == 1


def test_any_change_of_content_changes_the_hash() -> None:
    assert request_hash(PetitionCreate.model_validate(BODY)) != request_hash(
        PetitionCreate.model_validate({**BODY, "content": BODY["content"] + "补充。"})
    )


def test_no_key_means_no_idempotent_request_and_scopes_bind_the_stored_answer() -> None:
    body = PetitionCreate.model_validate(BODY)
    assert IdempotentRequest.of(SCOPE_PETITIONS, None, body) is None
    petitions = IdempotentRequest.of(SCOPE_PETITIONS, "k", body)
    open311 = IdempotentRequest.of(SCOPE_OPEN311, "k", body)
    assert petitions is not None
    assert open311 is not None
    assert petitions.context != open311.context
