"""CaseService: imported cases, objections, triage, reviews, repeats and surges, on an in-memory database."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from routing.cases.database import Database
from routing.cases.models import CaseStatus, RoutedCase
from routing.cases.service import CaseService, CaseUnknown, InForce, Output, RoutingPolicy
from routing.org_tree import OrgTree, parse_org_tree
from routing.surge import SurgePolicy
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.events import CaseAssigned, CaseLinked, PetitionRegistered, SurgeDetected, TriageQueued
from xinfang_common.testing.events import example_event
from xinfang_common.topics import (
    CASE_CLOSED,
    CASE_DECLINED,
    CASE_OBJECTED,
    CASE_REPLIED,
    CASE_REVIEW_REQUESTED,
    CASE_TRIAGED,
)

MakeRegistered = Callable[..., CloudEvent[PetitionRegistered]]
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def service() -> CaseService:
    database = Database("sqlite://")
    database.create_tables()
    return CaseService(database, RoutingPolicy(), clock=lambda: NOW)


def run(service: CaseService, method: str, event: CloudEvent[Any], now: InForce) -> list[Output]:
    def handler(session: Any) -> list[Output]:
        if method == "replied":
            return service.replied(session, event)
        if method == "ended":
            return service.ended(session, event)
        result: list[Output] = getattr(service, method)(session, event, now)
        return result

    outputs, _ = service.process(event.id, method, handler)
    return outputs


def assigned(outputs: list[Output]) -> CaseAssigned:
    [data] = [o.event.data for o in outputs if isinstance(o.event.data, CaseAssigned)]
    return data


def case(service: CaseService, case_id: str) -> RoutedCase:
    with service.database.sessions() as session:
        found = session.get(RoutedCase, case_id)
        assert found is not None
        return found


def test_an_imported_case_goes_to_its_legacy_unit_as_of_its_registration(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    then = datetime(2019, 5, 6, 8, 0, tzinfo=UTC)
    event = make_registered(
        case_id="imp-1", imported=True, imported_unit="430103-jyj", registered_at=then, category=None
    )

    data = assigned(run(service, "registered", event, InForce(demo_tree)))

    assert (data.unit_code, data.rule, data.assigned_at) == ("430103-jyj", "imported", then)
    assert "legacy" in data.explanation


def test_an_imported_case_without_its_unit_is_decided_as_usual_as_of_its_registration(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    then = datetime(2019, 5, 6, 8, 0, tzinfo=UTC)
    event = make_registered(case_id="imp-2", imported=True, registered_at=then)

    data = assigned(run(service, "registered", event, InForce(demo_tree)))

    assert (data.unit_code, data.rule, data.assigned_at) == ("430104-zjj", "region-category", then)


def objection(case_id: str, unit: str, reason: str = "不属于本单位职责") -> CloudEvent[Any]:
    return example_event(CASE_OBJECTED, case_id, unit_code=unit, reason=reason)


def test_an_objection_reroutes_without_the_objector_and_a_second_one_goes_to_triage(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    now = InForce(demo_tree)
    first = assigned(run(service, "registered", make_registered(case_id="obj-1"), now))
    assert first.unit_code == "430104-zjj"

    second = assigned(run(service, "objected", objection("obj-1", "430104-zjj", "属环保部门职责"), now))

    assert second.unit_code not in {"430104-zjj"}
    assert second.unit_code == "430100-zjj"  # the next most specific unit for 城乡建设
    assert "430104-zjj objected" in second.explanation
    assert "属环保部门职责" in second.explanation

    [queued] = run(service, "objected", objection("obj-1", second.unit_code), now)
    stored = case(service, "obj-1")
    assert stored.status == CaseStatus.TRIAGE
    assert stored.objectors == ["430104-zjj", "430100-zjj"]
    assert "second objection" in (stored.triage_reason or "")
    assert isinstance(queued.event.data, TriageQueued)
    assert queued.spec is CASE_TRIAGED
    assert (queued.event.data.case_id, queued.event.data.reason) == ("obj-1", stored.triage_reason)
    assert queued.event.data.at == NOW


def test_an_objection_from_a_unit_no_longer_assigned_is_ignored(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    now = InForce(demo_tree)
    run(service, "registered", make_registered(case_id="obj-2"), now)

    assert run(service, "objected", objection("obj-2", "430102-zjj"), now) == []
    assert case(service, "obj-2").unit_code == "430104-zjj"


def test_an_objection_on_an_unknown_case_fails_so_the_agent_dead_letters_it(
    service: CaseService, demo_tree: OrgTree
) -> None:
    with pytest.raises(CaseUnknown):
        run(service, "objected", objection("nobody", "430104-zjj"), InForce(demo_tree))


def test_a_redelivered_event_republishes_the_same_events_without_deciding_again(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    event = make_registered(case_id="dup-1")
    handler = lambda s: service.registered(s, event, InForce(demo_tree))  # noqa: E731

    first, seen_first = service.process(event.id, "t", handler)
    again, seen_again = service.process(event.id, "t", handler)

    assert (seen_first, seen_again) == (False, True)
    assert [o.event.id for o in first] == [o.event.id for o in again]


@pytest.mark.parametrize(
    ("stage", "contested", "expected"),
    [("review", "430104-zjj", "430104-xfj"), ("recheck", "430104-xfj", "430100-xfj")],
)
def test_a_review_goes_to_the_superior_of_the_contested_unit(
    service: CaseService,
    demo_tree: OrgTree,
    make_registered: MakeRegistered,
    stage: str,
    contested: str,
    expected: str,
) -> None:
    now = InForce(demo_tree)
    run(service, "registered", make_registered(case_id="rv-1"), now)
    request = example_event(CASE_REVIEW_REQUESTED, "rv-1", stage=stage, unit_code=contested)

    data = assigned(run(service, "review_requested", request, now))

    assert (data.unit_code, data.stage.value, data.rule) == (expected, stage, "review-superior")
    assert data.category == "城乡建设"


def test_a_review_skips_inactive_superiors(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    office = demo_tree.get("430104-xfj")
    assert office is not None
    tree = demo_tree.replacing(office.model_copy(update={"active": False, "successor": "430100-xfj"}))
    run(service, "registered", make_registered(case_id="rv-2"), InForce(tree))
    request = example_event(CASE_REVIEW_REQUESTED, "rv-2", stage="review", unit_code="430104-zjj")

    data = assigned(run(service, "review_requested", request, InForce(tree)))

    assert data.unit_code == "430100-xfj"
    assert "430104-xfj" in data.explanation


SIMILAR = ("小区旁工地夜间施工噪音扰民", "某小区旁工地连续多日夜间施工，噪音很大，影响居民休息，请求处理。")
RETOLD = (
    "小区旁工地夜间施工噪音扰民",
    "某小区旁工地连续多日夜间施工，噪音很大，影响居民休息，请求尽快处理。",
)


def linked(outputs: list[Output]) -> CaseLinked | None:
    found = [o.event.data for o in outputs if isinstance(o.event.data, CaseLinked)]
    return found[0] if found else None


def test_a_repeat_of_a_case_in_progress_is_linked_and_goes_to_the_same_unit(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    now = InForce(demo_tree)
    first = make_registered(case_id="rp-1", title=SIMILAR[0], content=SIMILAR[1])
    run(service, "registered", first, now)
    run(service, "objected", objection("rp-1", "430104-zjj"), now)  # now at 430100-zjj
    later = NOW + timedelta(days=3)
    second = make_registered(case_id="rp-2", title=RETOLD[0], content=RETOLD[1], registered_at=later)

    outputs = run(service, "registered", second, now)

    link = linked(outputs)
    assert link is not None
    assert (link.earlier_case_id, link.kind.value, link.earlier_unit) == ("rp-1", "in_progress", "430100-zjj")
    assert link.similarity >= 0.5
    data = assigned(outputs)
    assert (data.unit_code, data.rule) == ("430100-zjj", "repeat-in-progress")


def test_a_repeat_of_an_answered_case_is_a_repeat(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    now = InForce(demo_tree)
    run(service, "registered", make_registered(case_id="fn-1", title=SIMILAR[0], content=SIMILAR[1]), now)
    run(service, "replied", example_event(CASE_REPLIED, "fn-1", stage="reply"), now)

    again = run(
        service, "registered", make_registered(case_id="fn-2", title=RETOLD[0], content=RETOLD[1]), now
    )

    link = linked(again)
    assert link is not None
    assert (link.earlier_case_id, link.kind.value) == ("fn-1", "repeat")
    assert assigned(again).rule == "region-category"


@pytest.mark.parametrize("ending", [CASE_DECLINED, CASE_CLOSED], ids=["declined", "closed"])
def test_a_repeat_of_a_declined_or_closed_case_is_a_repeat_not_in_progress(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered, ending: Any
) -> None:
    now = InForce(demo_tree)
    run(service, "registered", make_registered(case_id="end-1", title=SIMILAR[0], content=SIMILAR[1]), now)
    assert run(service, "ended", example_event(ending, "end-1"), now) == []

    again = run(
        service, "registered", make_registered(case_id="end-2", title=RETOLD[0], content=RETOLD[1]), now
    )

    link = linked(again)
    assert link is not None
    assert (link.earlier_case_id, link.kind.value) == ("end-1", "repeat")
    # Not Art. 19's "already in process": decided on its own merits, not sent to the earlier unit.
    assert assigned(again).rule == "region-category"


def test_a_repeat_of_a_case_closed_after_recheck_is_final(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    now = InForce(demo_tree)
    run(service, "registered", make_registered(case_id="fl-1", title=SIMILAR[0], content=SIMILAR[1]), now)
    run(service, "replied", example_event(CASE_REPLIED, "fl-1", stage="recheck"), now)

    again = run(
        service, "registered", make_registered(case_id="fl-2", title=RETOLD[0], content=RETOLD[1]), now
    )

    link = linked(again)
    assert link is not None
    assert (link.earlier_case_id, link.kind.value) == ("fl-1", "final")
    assert assigned(again).unit_code == "430104-zjj"  # still assigned, to answer that it is final


def test_a_different_matter_in_the_same_region_and_category_is_not_linked(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    now = InForce(demo_tree)
    run(service, "registered", make_registered(case_id="df-1", title=SIMILAR[0], content=SIMILAR[1]), now)
    other = make_registered(
        case_id="df-2", title="物业公司乱收停车费", content="小区物业擅自提高停车收费标准，业主多次反映无果。"
    )

    assert linked(run(service, "registered", other, now)) is None


def test_a_surge_is_signalled_once_when_a_window_exceeds_its_usual_level(
    demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    database = Database("sqlite://")
    database.create_tables()
    policy = RoutingPolicy(
        repeat_similarity=1.0,
        surge=SurgePolicy(timedelta(hours=24), baseline_windows=3, ratio=3.0, min_count=4),
    )
    service = CaseService(database, policy, clock=lambda: NOW)
    now = InForce(demo_tree)
    surges: list[SurgeDetected] = []
    # One petition a day for three days (the usual level), then five within a few hours.
    times = [NOW - timedelta(days=d) for d in (3, 2, 1)] + [NOW + timedelta(hours=h) for h in range(1, 7)]
    for i, at in enumerate(times):
        event = make_registered(
            case_id=f"sg-{i}", content=f"第{i}件：{'甲乙丙丁戊己庚辛壬癸'[i]}事", registered_at=at
        )
        surges += [
            o.event.data
            for o in run(service, "registered", event, now)
            if isinstance(o.event.data, SurgeDetected)
        ]

    [surge] = surges
    assert (surge.key, surge.category, surge.unit_code) == ("城乡建设|430104-zjj", "城乡建设", "430104-zjj")
    assert surge.count == 4
    assert surge.baseline_mean == pytest.approx(1.0)


def test_case_assigned_never_carries_petitioner_identity(
    service: CaseService, demo_tree: OrgTree, make_registered: MakeRegistered
) -> None:
    event = make_registered(case_id="id-1", petition_type="report", subject_unit="430104-zjj")

    [output] = run(service, "registered", event, InForce(demo_tree))

    assert set(CaseAssigned.model_fields) == {
        "case_id",
        "unit_code",
        "unit_name",
        "region",
        "category",
        "petition_type",
        "rule",
        "explanation",
        "assigned_at",
        "stage",
    }
    body = output.event.to_json_bytes().decode()
    assert event.data.content not in body
    assert event.data.title not in body


def test_a_tree_with_a_successor_loop_does_not_hang_resolution() -> None:
    tree = parse_org_tree(
        [{"code": "r", "name": "信访局", "parent": None, "kind": "petition_office", "regions": ["430100"]}]
    )
    assert tree.resolve(tree.root) == (tree.root, [])
