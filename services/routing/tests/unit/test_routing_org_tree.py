"""Loading the org tree: a bad file is refused with a message naming the unit and the field."""

from pathlib import Path
from typing import Any

import pytest

from routing.org_tree import OrgTree, OrgTreeError, UnitKind, load_org_tree, parse_org_tree

SEVEN_CATEGORIES = {"城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"}


def unit(code: str, parent: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": code,
        "parent": parent,
        "kind": "department",
        "regions": ["430100"],
        **extra,
    }


def root(**extra: Any) -> dict[str, Any]:
    return unit("root", None, kind="petition_office", **extra)


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        pytest.param(
            [root(), unit("a", "root"), unit("a", "root")], "unit a, field code", id="duplicate code"
        ),
        pytest.param(
            [root(), unit("a", "nope")], "unit a, field parent: no unit has code 'nope'", id="parent"
        ),
        pytest.param([root(), unit("a", None)], "exactly one unit must have parent null", id="two roots"),
        pytest.param(
            [unit("a", "b"), unit("b", "a")], "exactly one unit must have parent null", id="no root"
        ),
        pytest.param(
            [root(), unit("a", "b"), unit("b", "a")], "field parent: cycle", id="cycle away from the root"
        ),
        pytest.param(
            [root(), unit("a", "root", active=False, successor="zz")],
            "unit a, field successor: no unit has code 'zz'",
            id="unknown successor",
        ),
        pytest.param(
            [root(), unit("a", "root", successor="root")],
            "unit a, field successor: only an inactive unit",
            id="active unit with successor",
        ),
        pytest.param(
            [
                root(),
                unit("a", "root", active=False, successor="b"),
                unit("b", "root", active=False, successor="a"),
            ],
            "field successor: cycle",
            id="successor cycle",
        ),
        pytest.param([root(active=False)], "unit root, field active", id="inactive root"),
        pytest.param([root(), unit("a", "root", regions=["4301"])], "unit a, field regions.0", id="region"),
        pytest.param([root(), unit("a", "root", regions=[])], "unit a, field regions", id="no region"),
        pytest.param([root(), unit("a", "root", kind="club")], "unit a, field kind", id="kind"),
        pytest.param([root(), {"code": "a", "parent": "root"}], "unit a, field name", id="missing field"),
        pytest.param([root(), unit("a", "root", colour="red")], "unit a, field colour", id="unknown field"),
        pytest.param([root(), unit("a", "root", categories=["教育文体", "教育文体"])], "unit a", id="repeat"),
        pytest.param([], "non-empty list of units", id="empty"),
    ],
)
def test_an_inconsistent_tree_is_refused_naming_unit_and_field(units: list[Any], expected: str) -> None:
    with pytest.raises(OrgTreeError) as refused:
        parse_org_tree(units)

    assert expected in str(refused.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(OrgTreeError) as refused:
        parse_org_tree([root(), unit("a", "x"), unit("b", "y")])

    assert "unit a, field parent" in str(refused.value)
    assert "unit b, field parent" in str(refused.value)


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(OrgTreeError, match="ROUTING_ORG_TREE_PATH"):
        load_org_tree(tmp_path / "absent.yaml")


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tree.yaml"
    path.write_text("- code: a\n  name: [unclosed\n", encoding="utf-8")

    with pytest.raises(OrgTreeError, match="not valid YAML"):
        load_org_tree(path)


def test_a_mapping_at_the_top_level_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tree.yaml"
    path.write_text("units: []\n", encoding="utf-8")

    with pytest.raises(OrgTreeError, match="list of units"):
        load_org_tree(path)


def test_the_demo_tree_covers_the_city_and_three_districts(demo_tree: OrgTree) -> None:
    root = demo_tree.root
    city_categories = {c for u in demo_tree if u.regions == ("430100",) for c in u.categories}
    kinds = [u.kind for u in demo_tree]

    assert (root.code, root.kind) == ("430100-xfj", UnitKind.PETITION_OFFICE)
    assert city_categories == SEVEN_CATEGORIES
    assert kinds.count(UnitKind.DISCIPLINE_INSPECTION) == 1
    for district in ("430102", "430103", "430104"):
        office = demo_tree.get(f"{district}-xfj")
        assert office is not None
        assert office.kind is UnitKind.PETITION_OFFICE
        departments = demo_tree.subtree(office.code) - {office.code}
        assert 2 <= len(departments) <= 3
        assert f"{district}-zjj" in departments
