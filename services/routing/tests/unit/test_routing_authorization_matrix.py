"""Every routing endpoint × every role × a caller of the case's own unit or of another unit.

Routing keeps no per-unit view: the org tree, rules and classifier are public, previews are for any
staff, and the triage queue is the petition offices' (registrars') and supervisors' whatever their
unit. So own and other unit get the same answer here; the table says so explicitly, and an
endpoint added without an entry fails the first test.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from routing.cases.models import RoutedCase
from routing.cases.service import InForce
from routing.config import RoutingSettings
from routing.main import create_app
from routing.state import RoutingState
from routing.units.schemas import UnitRead
from xinfang_common.auth import Role
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.access_matrix import ALL, Access, Request, check_matrix, only, operations, public
from xinfang_common.testing.events import example_event
from xinfang_common.topics import PETITION_REGISTERED

OWN_UNIT, OTHER_UNIT = "430104-xfj", "430102-xfj"
"""The triage case is a petition of region 430104: the district petition office is its own unit."""


MATRIX: dict[str, Access] = {
    "GET /healthz": public(),
    "GET /readyz": public(503),  # no broker here: rightly not ready, for anyone
    "GET /v1/units": public(),
    "GET /v1/units/{code}": public(),
    "GET /v1/rules": public(),
    "GET /v1/classifier": public(),
    "PUT /v1/units": only((Role.ADMIN,), 200),
    "PUT /v1/units/{code}": only((Role.ADMIN,), 201),
    "POST /v1/routing/preview": only(ALL, 200),
    "GET /v1/triage": only((Role.REGISTRAR, Role.SUPERVISOR, Role.ADMIN), 200),
    "POST /v1/triage/{case_id}/assign": only((Role.REGISTRAR, Role.ADMIN), 200),
}


class Recorder:
    """Stands in for the units topic and the topics routing publishes to."""

    async def send_unit(self, code: str, event: CloudEvent[Any] | None) -> None:
        return None

    async def publish(self, topic: Any, event: CloudEvent[Any]) -> None:
        return None


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder = tmp_path_factory.mktemp("routing-matrix")
    tree = Path(__file__).resolve().parents[4] / "deploy" / "config" / "org-tree.demo.yaml"
    settings = RoutingSettings(
        org_tree_path=tree,
        database_url=f"sqlite:///{folder / 'routing.db'}",
        training_data_path=folder / "training.csv",
    )
    application = create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    state: RoutingState = application.state.routing
    recorder = Recorder()
    state.units.sender = recorder.send_unit
    assert state.router is not None
    state.router._publish = recorder.publish  # the lifespan (and with it Kafka) is not started here
    state.router.service.database.create_tables()
    return application


class Requests:
    """Builds each endpoint's request; a request that changes something gets fresh data each time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.serial = 0

    def fresh(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def waiting_case(self) -> str:
        """A case of region 430104 in the triage queue."""
        case_id = self.fresh("matrix-case")
        state: RoutingState = self.app.state.routing
        assert state.router is not None
        service = state.router.service
        event = example_event(PETITION_REGISTERED, case_id, region="430104", category=None)
        service.process(event.id, "test", lambda s: service.registered(s, event, InForce(state.org_tree)))
        with service.database.sessions.begin() as session:
            case = session.get(RoutedCase, case_id)
            assert case is not None
            service._to_triage(case, "test", "the text classifier is unsure")
        return case_id

    def whole_tree(self) -> list[dict[str, Any]]:
        """The tree in force, as PUT /v1/units takes it (replacing it with itself)."""
        state: RoutingState = self.app.state.routing
        return [UnitRead.of(unit).model_dump(mode="json") for unit in state.org_tree.units()]

    def build(self, operation: str) -> Request:
        unit = {
            "name": "岳麓区生态环境分局",
            "parent": "430104-xfj",
            "kind": "department",
            "regions": ["430104"],
            "categories": ["环境保护"],
        }
        builders: dict[str, Callable[[], tuple[str, Any]]] = {
            "GET /healthz": lambda: ("/healthz", None),
            "GET /readyz": lambda: ("/readyz", None),
            "GET /v1/units": lambda: ("/v1/units", None),
            "GET /v1/units/{code}": lambda: (f"/v1/units/{OWN_UNIT}", None),
            "GET /v1/rules": lambda: ("/v1/rules", None),
            "GET /v1/classifier": lambda: ("/v1/classifier", None),
            "PUT /v1/units": lambda: ("/v1/units", self.whole_tree()),
            "PUT /v1/units/{code}": lambda: (f"/v1/units/{self.fresh('430104-new')}", unit),
            "POST /v1/routing/preview": lambda: ("/v1/routing/preview", PETITION_REGISTERED.example),
            "GET /v1/triage": lambda: ("/v1/triage", None),
            "POST /v1/triage/{case_id}/assign": lambda: (
                f"/v1/triage/{self.waiting_case()}/assign",
                {"unit_code": "430104-zjj", "note": "matrix"},
            ),
        }
        method = operation.split(" ")[0]
        path, body = builders[operation]()
        return method, path, {"json": body}


def test_every_endpoint_has_an_entry_in_the_matrix(app: FastAPI) -> None:
    assert operations(app) == set(MATRIX)


def test_each_role_of_the_own_and_another_unit_gets_the_documented_answer_the_table_expects(
    app: FastAPI,
) -> None:
    requests = Requests(app)
    client = TestClient(app)  # not entered: the lifespan would join Kafka
    wrong = check_matrix(client, app, MATRIX, requests.build, own_unit=OWN_UNIT, other_unit=OTHER_UNIT)
    assert not wrong, "\n".join(wrong)
