"""``/v1/routing/preview``: what routing would decide, without publishing anything."""

from __future__ import annotations

from fastapi import APIRouter

from routing.agents import guess_category
from routing.decisions.schemas import RoutingPreviewRead, RoutingPreviewRequest
from routing.deps import UNAUTHENTICATED, StaffDep, StateDep
from routing.errors import UnroutablePetition
from routing.rules import NoLawfulUnit, decide
from routing.units.schemas import UnitRead

router = APIRouter(prefix="/v1/routing", tags=["routing"])


@router.post(
    "/preview",
    summary="Preview the routing decision for a petition (nothing is published)",
    responses={**UNAUTHENTICATED, 409: {"description": "No unit may lawfully receive the petition"}},
)
async def preview(body: RoutingPreviewRequest, state: StateDep, _: StaffDep) -> RoutingPreviewRead:
    """The unit, rule and explanation routing would produce for ``body``."""
    guess = None
    if not body.category:
        guess = guess_category(state.classifier.current, body, state.min_confidence)
    try:
        decision = decide(
            body, state.org_tree, guess, rules=state.rules.current, report_target=state.report_target
        )
    except NoLawfulUnit as exc:
        raise UnroutablePetition(str(exc)) from exc
    return RoutingPreviewRead(
        case_id=body.case_id,
        unit=UnitRead.of(decision.unit),
        rule=str(decision.rule),
        category=decision.category,
        explanation=decision.explanation,
    )
