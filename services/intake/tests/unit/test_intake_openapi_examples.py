"""Every intake endpoint shows a realistic Chinese example, and every example is valid."""

import base64
import os
import re
from typing import Any

import pytest
from pydantic import BaseModel

from intake.access.endpoints import PersonalDataReadPage
from intake.config import IntakeSettings
from intake.imports.schemas import ImportAccepted, ImportedCase, ImportErrorPage, ImportJobRead
from intake.main import create_app
from intake.open311.schemas import Service, ServiceRequestCreated, ServiceRequestRead
from intake.petitions.schemas import (
    PetitionCreate,
    PetitionCreated,
    PetitionersRead,
    PetitionPage,
    PetitionRead,
)
from intake.tracking.schemas import RatingCreate, RatingRead, ReviewCreate, ReviewRead, TrackedCase
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests

CJK = re.compile(r"[\u4e00-\u9fff]")
OPERATIONAL = {"/healthz", "/readyz", "/metrics"}
NO_PROSE = {"/v1/audit/personal-data-reads"}
"""Endpoints whose data holds no text a person wrote (ids, times, field names)."""


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    app = create_app(
        IntakeSettings(database_url="sqlite://", encryption_keys=key),
        KafkaSettings(),
        auth_settings_for_tests(),
    )
    openapi: dict[str, Any] = app.openapi()
    return openapi


def _examples_of(schema: dict[str, Any] | None, components: dict[str, Any]) -> list[Any]:
    if not schema:
        return []
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("type") == "array":
        return _examples_of(schema.get("items"), components)
    return list(schema.get("examples", [])) + ([schema["example"]] if "example" in schema else [])


def _content_examples(content: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for media in content.values():
        found += list(media.get("examples", {}).values()) if "examples" in media else []
        found += [media["example"]] if "example" in media else []
        found += _examples_of(media.get("schema"), components)
    return found


def test_every_endpoint_has_request_and_response_examples_in_chinese(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    missing: list[str] = []
    for path, operations in spec["paths"].items():
        if path in OPERATIONAL:
            continue
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            shown: list[Any] = []
            if body := operation.get("requestBody"):
                request_examples = _content_examples(body["content"], components)
                if not request_examples:
                    missing.append(f"{name}: request body")
                shown += request_examples
            for status, response in operation["responses"].items():
                if status.startswith("2") and "content" in response:
                    response_examples = _content_examples(response["content"], components)
                    if not response_examples:
                        missing.append(f"{name}: {status} response")
                    shown += response_examples
            if path not in NO_PROSE and not CJK.search(str(shown)):
                missing.append(f"{name}: no Chinese text in its examples")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    "model",
    [
        PetitionCreate,
        PetitionCreated,
        PetitionRead,
        PetitionPage,
        PetitionersRead,
        TrackedCase,
        RatingCreate,
        RatingRead,
        ReviewCreate,
        ReviewRead,
        Service,
        ServiceRequestCreated,
        ServiceRequestRead,
        PersonalDataReadPage,
        ImportedCase,
        ImportAccepted,
        ImportJobRead,
        ImportErrorPage,
    ],
    ids=lambda m: m.__name__,
)
def test_each_example_validates_against_its_model(model: type[BaseModel]) -> None:
    examples = model.model_json_schema().get("examples", [])
    assert examples, f"{model.__name__} has no example"
    for example in examples:
        model.model_validate(example)
