"""``/v1/rules``: the configured routing rules in force, in order."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from routing.configured_rules import RuleAssign, RuleMatch
from routing.deps import StateDep

router = APIRouter(prefix="/v1/rules", tags=["rules"])


class RuleRead(BaseModel):
    """One configured rule, and whether the unit it names is in the org tree."""

    position: int = Field(description="1 for the rule tried first")
    id: str
    description: str
    match: RuleMatch
    assign: RuleAssign
    unit_known: bool = Field(
        description="whether the org tree has the unit; a rule naming none is passed over"
    )


class RuleList(BaseModel):
    """The configured rules in order (first match wins), then the built-in defaults."""

    items: list[RuleRead]
    total: int
    path: str | None = Field(description="the rules file (ROUTING_RULES_PATH); null when none")
    last_error: str | None = Field(
        description="why the latest change of the file was not loaded, if it was not"
    )
    defaults: list[str] = Field(description="the built-in rules tried after the configured ones, in order")


@router.get("", summary="The configured routing rules in force, in the order they are tried")
async def list_rules(state: StateDep) -> RuleList:
    """Configured rules first (first match wins), then the built-in defaults."""
    tree = state.org_tree
    items = [
        RuleRead(
            position=i,
            id=rule.id,
            description=rule.description,
            match=rule.match,
            assign=rule.assign,
            unit_known=rule.assign.unit in tree,
        )
        for i, rule in enumerate(state.rules.current, start=1)
    ]
    return RuleList(
        items=items,
        total=len(items),
        path=str(state.rules.path) if state.rules.path else None,
        last_error=state.rules.last_error,
        defaults=[
            "cross-region-lead",
            "region-category",
            "region-petition-office",
            "fallback-root",
            "report-discipline-inspection / report-superior (Art. 30 guard, over every rule)",
        ],
    )
