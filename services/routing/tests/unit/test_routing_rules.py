"""Routing decisions: each rule, the Art. 30 guard for reports, and successors of inactive units."""

from collections.abc import Callable
from typing import Any

import pytest

from routing.org_tree import OrgTree, parse_org_tree
from routing.rules import NoLawfulUnit, Rule, decide
from xinfang_common.events import PetitionRegistered


def unit(
    code: str, parent: str | None, kind: str, regions: list[str], *categories: str, **extra: Any
) -> dict:
    return {
        "code": code,
        "name": f"{code} 名称",
        "parent": parent,
        "kind": kind,
        "regions": regions,
        "categories": list(categories),
        **extra,
    }


CITY = "330100"
DISTRICT = "330102"

UNITS = [
    unit("c-xfj", None, "petition_office", [CITY]),
    unit("c-jw", "c-xfj", "discipline_inspection", [CITY]),
    unit("c-zjj", "c-xfj", "department", [CITY], "城乡建设"),
    unit("c-wjw", "c-xfj", "department", [CITY], "卫生计生"),
    unit("c-wjw-center", "c-wjw", "subsidiary", [CITY], "卫生计生"),
    unit("c-jtj-old", "c-xfj", "department", [CITY], "交通运输", active=False, successor="c-jtj-mid"),
    unit("c-jtj-mid", "c-xfj", "department", [CITY], active=False, successor="c-jtj"),
    unit("c-jtj", "c-xfj", "department", [CITY]),
    unit("d-xfj", "c-xfj", "petition_office", [DISTRICT]),
    unit("d-zjj", "d-xfj", "department", [DISTRICT], "城乡建设"),
    unit("d-rsj", "d-xfj", "department", [DISTRICT], "劳动和社会保障"),
    unit("d-jyj-gone", "d-xfj", "department", [DISTRICT], "教育文体", active=False),
    # Two equally specific units for one category: the code decides, not the file order.
    unit("d-hb-b", "d-xfj", "department", [DISTRICT], "环境保护"),
    unit("d-hb-a", "d-xfj", "department", [DISTRICT], "环境保护"),
]


def tree_of(units: list[dict]) -> OrgTree:
    return parse_org_tree(units, source="test tree")


@pytest.fixture
def tree() -> OrgTree:
    return tree_of(UNITS)


@pytest.fixture
def tree_without_discipline() -> OrgTree:
    return tree_of([u for u in UNITS if u["kind"] != "discipline_inspection"])


Make = Callable[..., PetitionRegistered]


@pytest.mark.parametrize(
    ("region", "category", "expected"),
    [
        pytest.param(DISTRICT, "城乡建设", "d-zjj", id="district unit beats city unit"),
        pytest.param("330105", "城乡建设", "c-zjj", id="city unit for a district without its own"),
        pytest.param(DISTRICT, "卫生计生", "c-wjw-center", id="deeper in the tree at equal region level"),
        pytest.param(DISTRICT, "环境保护", "d-hb-a", id="ties broken by code"),
    ],
)
def test_region_category_picks_the_most_specific_unit(
    tree: OrgTree, make_petition: Make, region: str, category: str, expected: str
) -> None:
    decision = decide(make_petition(region=region, category=category), tree)

    assert decision.unit.code == expected
    assert decision.rule is Rule.REGION_CATEGORY
    assert expected in decision.explanation
    assert category in decision.explanation
    assert region in decision.explanation


def test_a_category_nobody_handles_goes_to_the_petition_office_of_the_region(
    tree: OrgTree, make_petition: Make
) -> None:
    decision = decide(make_petition(region=DISTRICT, category="商贸旅游"), tree)

    assert decision.unit.code == "d-xfj"
    assert decision.rule is Rule.REGION_PETITION_OFFICE
    assert "商贸旅游" in decision.explanation
    assert DISTRICT in decision.explanation


def test_a_petition_without_category_goes_to_the_petition_office(tree: OrgTree, make_petition: Make) -> None:
    decision = decide(make_petition(region="330105", category=None), tree)

    assert decision.unit.code == "c-xfj"
    assert decision.rule is Rule.REGION_PETITION_OFFICE
    assert "no category" in decision.explanation


@pytest.mark.parametrize("region", ["440305", "330000"])
def test_a_region_outside_the_tree_goes_to_the_root(tree: OrgTree, make_petition: Make, region: str) -> None:
    decision = decide(make_petition(region=region), tree)

    assert decision.unit.code == "c-xfj"
    assert decision.rule is Rule.FALLBACK_ROOT
    assert region in decision.explanation


def test_an_inactive_unit_is_replaced_by_its_successor_through_the_chain(
    tree: OrgTree, make_petition: Make
) -> None:
    decision = decide(make_petition(region=DISTRICT, category="交通运输"), tree)

    assert decision.unit.code == "c-jtj"
    assert decision.rule is Rule.REGION_CATEGORY
    assert "c-jtj-old" in decision.explanation
    assert "successor" in decision.explanation


def test_an_inactive_unit_without_successor_is_skipped(tree: OrgTree, make_petition: Make) -> None:
    decision = decide(make_petition(region=DISTRICT, category="教育文体"), tree)

    assert decision.unit.code == "d-xfj"
    assert decision.rule is Rule.REGION_PETITION_OFFICE


def test_a_report_about_the_responsible_unit_goes_to_discipline_inspection(
    tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="d-zjj"
    )

    decision = decide(petition, tree)

    assert decision.unit.code == "c-jw"
    assert decision.rule is Rule.REPORT_DISCIPLINE_INSPECTION
    assert "d-zjj" in decision.explanation
    assert "Art. 30" in decision.explanation


def test_a_report_never_goes_to_a_unit_under_the_one_reported_on(tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="d-xfj"
    )

    decision = decide(petition, tree)

    assert decision.unit.code == "c-jw"
    assert decision.unit.code not in tree.subtree("d-xfj")


def test_without_discipline_inspection_a_report_goes_to_the_superior(
    tree_without_discipline: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="d-zjj"
    )

    decision = decide(petition, tree_without_discipline)

    assert decision.unit.code == "d-xfj"
    assert decision.rule is Rule.REPORT_SUPERIOR
    assert "d-zjj" in decision.explanation


def test_without_discipline_inspection_a_report_skips_every_unit_under_the_one_reported_on(
    tree_without_discipline: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="d-xfj"
    )

    decision = decide(petition, tree_without_discipline)

    assert decision.unit.code == "c-xfj"
    assert decision.rule is Rule.REPORT_SUPERIOR


def test_a_report_about_another_unit_is_routed_normally(tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="d-rsj"
    )

    decision = decide(petition, tree)

    assert decision.unit.code == "d-zjj"
    assert decision.rule is Rule.REGION_CATEGORY
    assert "d-rsj" in decision.explanation


def test_a_report_about_the_root_goes_to_discipline_inspection(tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="c-xfj"
    )

    decision = decide(petition, tree)

    assert decision.unit.code == "c-jw"
    assert decision.rule is Rule.REPORT_DISCIPLINE_INSPECTION


def test_a_report_about_the_root_with_no_discipline_inspection_cannot_be_routed(
    tree_without_discipline: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="c-xfj"
    )

    with pytest.raises(NoLawfulUnit, match="c-xfj"):
        decide(petition, tree_without_discipline)


def test_a_report_about_an_unknown_unit_goes_to_discipline_inspection(
    tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="report", subject_unit="x-999"
    )

    decision = decide(petition, tree)

    assert decision.unit.code == "c-jw"
    assert "x-999" in decision.explanation


def test_a_report_about_an_inactive_unit_also_avoids_its_successor(
    tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(
        region=DISTRICT, category="交通运输", petition_type="report", subject_unit="c-jtj-old"
    )

    decision = decide(petition, tree)

    assert decision.unit.code == "c-jw"


def test_the_guard_applies_to_reports_only(tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(
        region=DISTRICT, category="城乡建设", petition_type="suggestion", subject_unit="d-zjj"
    )

    assert decide(petition, tree).unit.code == "d-zjj"


def test_decisions_do_not_depend_on_the_order_of_the_file(make_petition: Make) -> None:
    petitions = [
        make_petition(region=r, category=c)
        for r in (DISTRICT, "330105", "440305")
        for c in ("城乡建设", "卫生计生", "环境保护", "交通运输", None)
    ]
    forward, backward = tree_of(UNITS), tree_of([UNITS[0], *reversed(UNITS[1:])])

    assert [decide(p, forward) for p in petitions] == [decide(p, backward) for p in petitions]


def test_the_demo_tree_routes_the_published_example(demo_tree: OrgTree, make_petition: Make) -> None:
    decision = decide(make_petition(region="430104", category="城乡建设"), demo_tree)

    assert decision.unit.name == "岳麓区住房和城乡建设局"
    assert decision.unit.code == "430104-zjj"
