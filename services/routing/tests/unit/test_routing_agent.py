"""The route_petitions agent, run through faust's test context with in-memory topics."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from routing.agents import PetitionRouter, register_agents
from routing.app import build_faust_app
from routing.cases.database import Database
from routing.cases.service import CaseService, RoutingPolicy
from routing.config import RoutingSettings
from routing.org_tree import OrgTree, parse_org_tree
from xinfang_common.cloudevents import CloudEvent, derived_event_id
from xinfang_common.events import CaseAssigned, PetitionRegistered, TriageQueued
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.events import example_event
from xinfang_common.topics import CASE_ASSIGNED, CASE_OBJECTED, CASE_TRIAGED, PETITION_REGISTERED

pytestmark = pytest.mark.anyio

MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeKafka:
    """Stands in for the CaseAssigned topic and the dead-letter topic."""

    published: list[tuple[Any, CloudEvent[CaseAssigned]]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0

    async def publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("broker unavailable")
        self.published.append((topic, event))

    async def send(self, **message: Any) -> "asyncio.Future[None]":
        self.dead_letters.append(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def kafka() -> FakeKafka:
    return FakeKafka()


@pytest.fixture
def faust_app() -> faust.App:
    # Never started: the test context feeds the agent directly, so no broker is contacted.
    return build_faust_app(KafkaSettings(bootstrap_servers="127.0.0.1:1"), RoutingSettings())


def router_for(tree: OrgTree, kafka: FakeKafka) -> PetitionRouter:
    return PetitionRouter(
        org_tree=lambda: tree,
        assigned_topic="case-assigned",
        dead_letters=kafka,
        publisher=kafka.publish,
        retry_initial_seconds=0.001,
    )


@pytest.fixture
async def agent(faust_app: faust.App, demo_tree: OrgTree, kafka: FakeKafka) -> AsyncIterator[Any]:
    route_petitions = register_agents(faust_app, router_for(demo_tree, kafka))
    async with route_petitions.test_context() as running:
        yield running


async def test_a_registered_petition_is_assigned_with_a_derived_event_id(
    agent: Any, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    registered = make_registered(case_id="case-42", region="430104", category="城乡建设")

    await agent.put(value=registered.to_json_bytes(), key=b"case-42")

    [(topic, assigned)] = kafka.published
    assert topic == "case-assigned"
    assert assigned.id == derived_event_id(registered.id, CASE_ASSIGNED.event_type)
    assert assigned.type == CASE_ASSIGNED.event_type
    assert assigned.source == CASE_ASSIGNED.source
    assert assigned.partitionkey == "case-42"
    assert assigned.data.case_id == "case-42"
    assert assigned.data.unit_code == "430104-zjj"
    assert assigned.data.unit_name == "岳麓区住房和城乡建设局"
    assert assigned.data.rule == "region-category"
    assert "城乡建设" in assigned.data.explanation
    assert kafka.dead_letters == []


async def test_a_replayed_petition_gets_the_same_event_id(
    agent: Any, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    registered = make_registered()

    await agent.put(value=registered.to_json_bytes(), key=b"case-1")
    await agent.put(value=registered.to_json_bytes(), key=b"case-1")

    first, second = (event for _, event in kafka.published)
    assert first.id == second.id


async def test_garbage_is_dead_lettered_and_the_next_petition_still_routed(
    agent: Any, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    await agent.put(value=b"{not json", key=b"bad-1")
    await agent.put(value=make_registered(case_id="good-1").to_json_bytes(), key=b"good-1")

    [dead] = kafka.dead_letters
    assert dead["key"] == b"bad-1"
    assert dead["value"] == b"{not json"
    headers = dict(dead["headers"])
    assert b"not a valid" in headers["x-error"]
    assert headers["x-source-topic"] == PETITION_REGISTERED.name.encode()
    assert [event.data.case_id for _, event in kafka.published] == ["good-1"]


async def test_an_event_of_another_type_is_dead_lettered(
    agent: Any, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    wrong = make_registered().model_copy(update={"type": "cn.xinfang.something.else.v1"})

    await agent.put(value=wrong.to_json_bytes(), key=b"case-1")

    assert len(kafka.dead_letters) == 1
    assert kafka.published == []


async def test_a_publish_failure_is_retried_not_dead_lettered(
    agent: Any, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    kafka.failures_left = 2

    await agent.put(value=make_registered().to_json_bytes(), key=b"case-1")

    assert len(kafka.published) == 1
    assert kafka.dead_letters == []


async def test_a_report_that_no_unit_may_receive_waits_in_triage(
    faust_app: faust.App, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    lone = parse_org_tree(
        [{"code": "root", "name": "信访局", "parent": None, "kind": "petition_office", "regions": ["430100"]}]
    )
    router = router_for(lone, kafka)
    route_petitions = register_agents(faust_app, router)
    registered = make_registered(petition_type="report", subject_unit="root")

    async with route_petitions.test_context() as running:
        await running.put(value=registered.to_json_bytes(), key=b"case-1")

    [(topic, queued)] = kafka.published
    assert topic == CASE_TRIAGED.name
    assert queued.id == derived_event_id(registered.id, CASE_TRIAGED.event_type)
    assert isinstance(queued.data, TriageQueued)
    assert (queued.data.case_id, queued.partitionkey) == ("case-1", "case-1")
    assert kafka.dead_letters == []
    with router.service.database.sessions() as session:
        [waiting] = router.service.waiting(session)
    assert waiting.case_id == "case-1"
    assert "manual triage" in (waiting.triage_reason or "")
    assert queued.data.reason == waiting.triage_reason


class FlakyDatabase:
    """Makes ``CaseService.process`` fail the way a database that is down does, a few times."""

    def __init__(self, service: CaseService, failures: int) -> None:
        self.real = service.process
        self.failures = failures
        service.process = self.process  # type: ignore[method-assign]

    def process(self, *args: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT 1", {}, Exception("could not connect to server"))
        return self.real(*args)


async def test_a_database_outage_is_retried_not_dead_lettered(
    faust_app: faust.App, demo_tree: OrgTree, kafka: FakeKafka, make_registered: MakeRegistered
) -> None:
    router = router_for(demo_tree, kafka)
    flaky = FlakyDatabase(router.service, failures=3)
    retries = REGISTRY.get_sample_value("xinfang_routing_database_retries_total") or 0.0
    route_petitions = register_agents(faust_app, router)

    async with route_petitions.test_context() as running:
        await running.put(value=make_registered(case_id="db-1").to_json_bytes(), key=b"db-1")

    assert flaky.failures == 0
    assert kafka.dead_letters == []
    assert [event.data.case_id for _, event in kafka.published] == ["db-1"]
    assert REGISTRY.get_sample_value("xinfang_routing_database_retries_total") == retries + 3


async def test_an_event_that_can_never_succeed_is_still_dead_lettered(
    faust_app: faust.App, demo_tree: OrgTree, kafka: FakeKafka
) -> None:
    router = router_for(demo_tree, kafka)
    agents = register_agents(faust_app, router)
    assert agents is not None
    objection = example_event(CASE_OBJECTED, "never-routed", unit_code="430104-zjj")

    await router.handle_objection(objection.to_json_bytes(), b"never-routed")

    [dead] = kafka.dead_letters
    assert b"CaseUnknown" in dict(dead["headers"])["x-error"]
    assert kafka.published == []


async def test_a_manual_decision_committed_before_a_crash_is_published_at_start(
    demo_tree: OrgTree, kafka: FakeKafka, make_registered: MakeRegistered, tmp_path: Path
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    database.create_tables()
    service = CaseService(database, RoutingPolicy())
    before = PetitionRouter(
        org_tree=lambda: demo_tree,
        assigned_topic="case-assigned",
        dead_letters=kafka,
        publisher=kafka.publish,
        retry_initial_seconds=0.001,
        service=service,
    )
    await before.handle(make_registered(case_id="crash-1").to_json_bytes(), b"crash-1")
    for unit_code in ("430104-zjj", "430100-zjj"):  # the second objection sends it to triage
        objected = example_event(CASE_OBJECTED, "crash-1", unit_code=unit_code)
        assert await before.handle_objection(objected.to_json_bytes(), b"crash-1")
    assert isinstance(kafka.published[-1][1].data, TriageQueued)
    kafka.published.clear()
    # The triage endpoint's transaction commits, then the process dies before publishing.
    unit = demo_tree.get("430104-xfj")
    assert unit is not None
    with database.sessions.begin() as session:
        output, _, _ = service.assign_by_hand(
            session, "crash-1", unit, tree=demo_tree, category=None, note="纪委处理"
        )
    assert kafka.published == []

    after = PetitionRouter(
        org_tree=lambda: demo_tree,
        assigned_topic="case-assigned",
        dead_letters=kafka,
        publisher=kafka.publish,
        retry_initial_seconds=0.001,
        service=CaseService(Database(f"sqlite:///{tmp_path / 'outbox.db'}"), RoutingPolicy()),
    )
    assert await after.republish_pending() == 1
    assert await after.republish_pending() == 0

    [(topic, assigned)] = kafka.published
    assert topic == "case-assigned"
    assert assigned.id == output.event.id
    assert (assigned.data.case_id, assigned.data.unit_code, assigned.data.rule) == (
        "crash-1",
        "430104-xfj",
        "manual-triage",
    )
