"""Configured rules (first match wins, Art. 30 still applies), Art. 24 lead units, objections' exclusions."""

from collections.abc import Callable
from pathlib import Path

import pytest

from routing.configured_rules import RulesError, load_rules, parse_rules
from routing.org_tree import OrgTree
from routing.rules import NoLawfulUnit, Rule, decide
from xinfang_common.domain import UnitKind
from xinfang_common.events import PetitionRegistered

Make = Callable[..., PetitionRegistered]
DEMO_RULES = Path(__file__).resolve().parents[4] / "deploy" / "config" / "routing-rules.demo.yaml"

RULES = parse_rules(
    [
        {
            "id": "oil-smoke",
            "description": "油烟 to the environment bureau",
            "match": {"region": "430100", "keywords": ["油烟", "异味"]},
            "assign": {"unit": "430100-sthjj"},
        },
        {
            "id": "online-housing",
            "match": {"channel": "online", "category": "城乡建设", "petition_type": ["claim", "report"]},
            "assign": {"unit": "430100-zjj"},
        },
        {"id": "catch-all-ghost", "assign": {"unit": "no-such-unit"}},
    ]
)


def test_the_first_matching_rule_decides_with_its_id_and_evidence(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(title="餐馆油烟扰民", content="楼下餐馆油烟直排。")

    decision = decide(petition, demo_tree, rules=RULES)

    assert (decision.unit.code, decision.rule) == ("430100-sthjj", "oil-smoke")
    assert "keyword(s) 油烟 in the text" in decision.explanation
    assert "region 430104 lies in 430100" in decision.explanation


def test_every_condition_must_hold(demo_tree: OrgTree, make_petition: Make) -> None:
    by_letter = make_petition(channel="letter")
    online = make_petition(channel="online")

    assert decide(by_letter, demo_tree, rules=RULES).rule == Rule.REGION_CATEGORY
    assert decide(online, demo_tree, rules=RULES).rule == "online-housing"


def test_a_rule_naming_a_unit_not_in_the_tree_is_passed_over(demo_tree: OrgTree, make_petition: Make) -> None:
    decision = decide(make_petition(channel="visit", category="环境保护"), demo_tree, rules=RULES)

    assert decision.rule == Rule.REGION_CATEGORY


def test_art_30_overrides_a_rule_that_would_give_a_report_to_the_unit_reported_on(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(channel="online", petition_type="report", subject_unit="430100-zjj")

    decision = decide(petition, demo_tree, rules=RULES)

    assert decision.unit.code == "430100-jw"
    assert decision.rule == Rule.REPORT_DISCIPLINE_INSPECTION


def test_the_report_target_kind_is_configurable(demo_tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(petition_type="report", subject_unit="430104-zjj")

    decision = decide(petition, demo_tree, report_target=UnitKind.GOVERNMENT)  # none in the demo tree

    assert decision.unit.code == "430104-xfj"
    assert decision.rule == Rule.REPORT_SUPERIOR


def test_excluded_units_are_skipped_by_rules_and_defaults(demo_tree: OrgTree, make_petition: Make) -> None:
    petition = make_petition(title="餐馆油烟扰民")

    decision = decide(petition, demo_tree, rules=RULES, excluded={"430100-sthjj", "430104-zjj"})

    assert decision.unit.code == "430100-zjj"


def test_when_every_unit_is_excluded_there_is_no_lawful_unit(demo_tree: OrgTree, make_petition: Make) -> None:
    everyone = {u.code for u in demo_tree}

    with pytest.raises(NoLawfulUnit):
        decide(make_petition(), demo_tree, excluded=everyone)


def test_art_24_a_matter_spanning_regions_goes_to_the_lowest_common_superior(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(region="430104", category="城乡建设", subject_unit="430102-zjj")

    decision = decide(petition, demo_tree)

    assert (decision.unit.code, decision.rule) == ("430100-xfj", Rule.CROSS_REGION_LEAD)
    assert "Art. 24" in decision.explanation
    assert "430104-zjj" in decision.explanation
    assert "430102-zjj" in decision.explanation


def test_a_subject_unit_serving_the_region_is_no_cross_region_matter(
    demo_tree: OrgTree, make_petition: Make
) -> None:
    petition = make_petition(region="430104", subject_unit="430100-zjj")

    assert decide(petition, demo_tree).rule == Rule.REGION_CATEGORY


def test_lowest_common_ancestor(demo_tree: OrgTree) -> None:
    assert demo_tree.lowest_common_ancestor(["430104-zjj", "430104-rsj"]).code == "430104-xfj"
    assert demo_tree.lowest_common_ancestor(["430104-zjj", "430102-zjj"]).code == "430100-xfj"
    assert demo_tree.lowest_common_ancestor(["430104-zjj", "430104-xfj"]).code == "430104-xfj"


def test_the_demo_rules_file_loads_and_names_units_of_the_demo_tree(demo_tree: OrgTree) -> None:
    rules = load_rules(DEMO_RULES)

    assert rules
    assert all(rule.assign.unit in demo_tree for rule in rules)


def test_a_bad_rules_file_names_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "- {id: c, match: {region: '4301'}, assign: {unit: x}}\n- {id: a, assign: {unit: y}}\n"
        "- {id: b, match: {colour: red}, assign: {unit: y}}\n- {id: a, assign: {unit: z}}\n",
        encoding="utf-8",
    )

    with pytest.raises(RulesError) as caught:
        load_rules(path)

    message = str(caught.value)
    assert "rule c, field match.region.0" in message
    assert "rule b, field match.colour" in message
    assert "rule a, field id: used by more than one rule" in message
