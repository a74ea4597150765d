"""Routing a petition without a category by the text classifier's prediction, or by the fallback."""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import faust
import httpx
import pytest
from prometheus_client import REGISTRY

from routing.agents import PetitionRouter, register_agents
from routing.app import build_faust_app
from routing.classifier import ClassifierError, TextClassifier
from routing.config import RoutingSettings
from routing.main import create_app
from routing.org_tree import OrgTree
from routing.rules import CategoryGuess, GuessOutcome, Rule, decide
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.events import CaseAssigned, PetitionRegistered, TriageQueued
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import bearer

Make = Callable[..., PetitionRegistered]
MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]
NO_BROKER = KafkaSettings(bootstrap_servers="127.0.0.1:1")


class StubClassifier:
    """Always predicts the same category with the same confidence; remembers what it read."""

    def __init__(self, label: str, confidence: float) -> None:
        self.labels = (label,)
        self.answer = (label, confidence)
        self.texts: list[str] = []

    def predict(self, text: str) -> tuple[str, float]:
        self.texts.append(text)
        return self.answer


# Pure decisions -------------------------------------------------------------------------------


def test_a_confident_prediction_routes_like_a_given_category(demo_tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(category=None, region="430104")

    decision = decide(petition, demo_tree, CategoryGuess("城乡建设", 0.87, 0.6))

    assert decision.unit.code == "430104-zjj"
    assert decision.rule is Rule.CLASSIFIED_REGION_CATEGORY
    assert decision.category == "城乡建设"
    assert "category predicted by the text classifier: 城乡建设 (confidence 0.87)" in decision.explanation
    assert "handles 城乡建设 for region 430104" in decision.explanation


def test_a_prediction_exactly_at_the_threshold_is_confident(demo_tree: OrgTree, make_petition: Make) -> None:
    guess = CategoryGuess("城乡建设", 0.6, 0.6)

    assert guess.outcome is GuessOutcome.CONFIDENT
    assert decide(make_petition(category=None), demo_tree, guess).rule is Rule.CLASSIFIED_REGION_CATEGORY


def test_an_unsure_prediction_leaves_the_petition_to_the_petition_office(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    decision = decide(
        make_petition(category=None, region="430104"), demo_tree, CategoryGuess("城乡建设", 0.42, 0.6)
    )

    assert decision.unit.code == "430104-xfj"
    assert decision.rule is Rule.REGION_PETITION_OFFICE
    assert decision.category is None
    assert "text classifier is unsure (best guess 城乡建设, confidence 0.42, below the threshold 0.60)" in (
        decision.explanation
    )


def test_without_a_model_the_explanation_says_so(demo_tree: OrgTree, make_petition: Make) -> None:
    decision = decide(make_petition(category=None, region="430104"), demo_tree, CategoryGuess(None, 0.0, 0.6))

    assert decision.unit.code == "430104-xfj"
    assert decision.rule is Rule.REGION_PETITION_OFFICE
    assert "no text classifier model is loaded" in decision.explanation


def test_a_given_category_is_never_overridden_by_a_guess(demo_tree: OrgTree, make_petition: Make) -> None:
    decision = decide(
        make_petition(category="劳动和社会保障"), demo_tree, CategoryGuess("城乡建设", 0.99, 0.6)
    )

    assert decision.rule is Rule.REGION_CATEGORY
    assert decision.category == "劳动和社会保障"
    assert "predicted" not in decision.explanation


def test_a_confident_guess_nobody_handles_goes_to_the_petition_office_citing_the_guess(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    decision = decide(
        make_petition(category=None, region="430104"), demo_tree, CategoryGuess("外星事务", 0.9, 0.6)
    )

    assert decision.rule is Rule.REGION_PETITION_OFFICE
    assert decision.unit.code == "430104-xfj"
    assert decision.category == "外星事务"
    assert "category predicted by the text classifier: 外星事务 (confidence 0.90)" in decision.explanation
    assert "No unit handles 外星事务" in decision.explanation


def test_a_report_with_a_guessed_category_still_avoids_the_unit_reported_on(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        category=None, region="430104", petition_type="report", subject_unit="430104-zjj"
    )

    decision = decide(petition, demo_tree, CategoryGuess("城乡建设", 0.9, 0.6))

    assert decision.unit.code != "430104-zjj"
    assert decision.rule is Rule.REPORT_DISCIPLINE_INSPECTION
    assert "category predicted by the text classifier: 城乡建设" in decision.explanation


# The agent ------------------------------------------------------------------------------------


class Published:
    def __init__(self) -> None:
        self.events: list[CloudEvent[CaseAssigned]] = []

    async def publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        self.events.append(event)

    async def send(self, **message: Any) -> "asyncio.Future[None]":
        raise AssertionError(f"nothing should be dead-lettered: {message}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def route(tree: OrgTree, classifier: Any, min_confidence: float, *events: CloudEvent[Any]) -> Published:
    app: faust.App = build_faust_app(NO_BROKER, RoutingSettings())
    out = Published()
    router = PetitionRouter(
        org_tree=lambda: tree,
        assigned_topic="case-assigned",
        dead_letters=out,
        publisher=out.publish,
        classifier=lambda: classifier,
        min_confidence=min_confidence,
    )
    agent = register_agents(app, router)
    async with agent.test_context() as running:
        for event in events:
            await running.put(value=event.to_json_bytes(), key=event.data.case_id.encode())
    return out


def predictions(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("xinfang_routing_classifier_predictions_total", {"outcome": outcome}) or 0.0
    )


@pytest.mark.anyio
async def test_the_agent_assigns_by_a_confident_prediction_and_carries_the_category(
    demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    stub = StubClassifier("城乡建设", 0.87)
    before = predictions("confident")
    registered = make_registered(case_id="c-1", category=None, title="夜间施工", content="工地噪音")

    [assigned] = (await route(demo_tree, stub, 0.6, registered)).events

    assert stub.texts == ["夜间施工\n工地噪音"]
    assert assigned.data.unit_code == "430104-zjj"
    assert assigned.data.rule == "classified-region-category"
    assert assigned.data.category == "城乡建设"
    assert "confidence 0.87" in assigned.data.explanation
    assert predictions("confident") == before + 1


@pytest.mark.anyio
async def test_the_agent_sends_unsure_cases_to_triage_falls_back_without_a_model_and_trusts_given_categories(
    demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    stub = StubClassifier("城乡建设", 0.5)
    unsure_before, no_model_before = predictions("unsure"), predictions("no_model")

    unsure = await route(demo_tree, stub, 0.6, make_registered(case_id="c-2", category=None))
    [no_model] = (await route(demo_tree, None, 0.6, make_registered(case_id="c-3", category=None))).events
    [given] = (
        await route(demo_tree, stub, 0.6, make_registered(case_id="c-4", category="劳动和社会保障"))
    ).events

    [queued] = unsure.events  # it waits in the triage queue (see test_routing_units_triage_api.py)
    assert isinstance(queued.data, TriageQueued)
    assert "classifier is unsure (best guess 城乡建设, confidence 0.50" in queued.data.reason
    assert no_model.data.rule == "region-petition-office"
    assert "no text classifier model" in no_model.data.explanation
    assert given.data.rule == "region-category"
    assert len(stub.texts) == 1
    assert predictions("unsure") == unsure_before + 1
    assert predictions("no_model") == no_model_before + 1


@pytest.mark.anyio
async def test_the_agent_with_a_real_model_routes_an_uncategorised_petition(
    demo_tree: OrgTree, make_registered: MakeRegistered, tiny_model_file: Path
) -> None:
    model = TextClassifier.load(tiny_model_file)
    registered = make_registered(
        case_id="c-5", category=None, title="学校违规补课", content="暑假组织补课并收费"
    )

    [assigned] = (await route(demo_tree, model, 0.0, registered)).events

    assert assigned.data.category == "教育文体"
    assert assigned.data.rule == "classified-region-category"
    assert assigned.data.unit_code == "430100-jyj"  # the city bureau: 430104 has none


# HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
async def client_with_model(demo_tree_path: Path, tiny_model_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = RoutingSettings(
        org_tree_path=demo_tree_path, classifier_model_path=tiny_model_file, classifier_min_confidence=0.0
    )
    app = create_app(settings, NO_BROKER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://routing", headers=bearer()
    ) as http:
        yield http


@pytest.mark.anyio
async def test_the_classifier_endpoint_describes_the_model_in_force(
    client_with_model: httpx.AsyncClient, tiny_model_file: Path
) -> None:
    body = (await client_with_model.get("/v1/classifier")).json()

    assert body["loaded"] is True
    assert body["path"] == str(tiny_model_file)
    assert body["labels"] == ["卫生计生", "城乡建设", "教育文体"]
    assert body["training_rows"] == 24
    assert body["trained_at"] is not None
    assert body["min_confidence"] == 0.0
    assert body["last_error"] is None


@pytest.mark.anyio
async def test_preview_uses_the_classifier_for_a_petition_without_category(
    client_with_model: httpx.AsyncClient,
) -> None:
    response = await client_with_model.post(
        "/v1/routing/preview",
        json={"region": "430104", "title": "医院乱收费", "content": "看病贵，医保不报销"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["rule"] == "classified-region-category"
    assert body["category"] == "卫生计生"
    assert "category predicted by the text classifier: 卫生计生" in body["explanation"]


@pytest.mark.anyio
async def test_without_a_model_the_classifier_endpoint_says_none_is_loaded(demo_tree_path: Path) -> None:
    app = create_app(RoutingSettings(org_tree_path=demo_tree_path), NO_BROKER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://routing", headers=bearer()
    ) as http:
        body = (await http.get("/v1/classifier")).json()

    assert body == {
        "loaded": False,
        "path": None,
        "labels": [],
        "trained_at": None,
        "training_rows": None,
        "min_confidence": 0.6,
        "last_error": None,
    }


def test_a_configured_model_that_cannot_be_read_stops_start_up(demo_tree_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.skops"
    broken.write_text("nope", encoding="utf-8")

    with pytest.raises(ClassifierError, match=r"broken\.skops"):
        create_app(RoutingSettings(org_tree_path=demo_tree_path, classifier_model_path=broken), NO_BROKER)
