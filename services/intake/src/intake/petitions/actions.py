"""HTTP endpoint for the actions a unit takes on a case (``POST /v1/petitions/{id}/actions``)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from intake.access.policy import ACT_ROLES
from intake.deps import CipherDep, RelayDep, ScopeDep, SessionDep, StateDep
from intake.errors import TransitionNotAllowed
from intake.petitions import action_service
from intake.petitions.lifecycle import Action, OutcomeRequired
from intake.petitions.schemas import CaseActionRequest, PetitionRead, TransitionConflict
from xinfang_common.auth import Principal, require_roles

_TAGS = frozenset(a.value for a in Action)
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _plain_location(error: dict[str, Any]) -> dict[str, Any]:
    """Name a bad field as the client sent it (``days``), not by the union member (``extend.days``)."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") in _TAG_ERRORS:
        loc = ("body", "action")
    elif len(loc) >= 2 and loc[0] == "body" and loc[1] in _TAGS:
        loc = ("body", *loc[2:])
    return {**error, "loc": loc}


class _ActionRoute(APIRoute):
    """A route whose 422s name the fields of the chosen action directly."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise RequestValidationError(
                    [_plain_location(e) for e in exc.errors()], body=exc.body
                ) from None

        return route


router = APIRouter(prefix="/v1/petitions", tags=["case actions"], route_class=_ActionRoute)

_EXAMPLES: dict[str, dict[str, Any]] = {
    "accept": {"summary": "受理（可注明难易程度）", "value": {"action": "accept", "difficulty": "ordinary"}},
    "decline": {
        "summary": "不予受理",
        "value": {
            "action": "decline",
            "reason": "该事项已由人民法院受理，依法应通过诉讼程序解决，不予受理。",
        },
    },
    "object": {
        "summary": "提出异议：不属于本单位职权",
        "value": {"action": "object", "reason": "夜间施工噪音属生态环境部门监管职责，不属于本单位职权范围。"},
    },
    "extend": {
        "summary": "延期（经单位负责人批准）",
        "value": {
            "action": "extend",
            "days": 30,
            "reason": "需会同生态环境、城管等部门现场核查，情况复杂，申请延期办理。",
            "approver": "head-0012",
        },
    },
    "hearing": {
        "summary": "听证（复核期间听证时间不计入期限）",
        "value": {"action": "hearing", "started_on": "2026-05-12", "ended_on": "2026-05-13"},
    },
    "reply": {
        "summary": "出具处理意见（申诉求决类须写明结论）",
        "value": {
            "action": "reply",
            "opinion": "经核查，该工地确有夜间违规施工行为，已责令其停止夜间作业并依法处罚。",
            "outcome": "supported",
        },
    },
    "review_reply": {
        "summary": "复查意见（上一级机关）",
        "value": {
            "action": "review_reply",
            "opinion": "经复查，原处理意见认定事实清楚、处理恰当，予以维持。",
            "outcome": "not_supported",
        },
    },
    "recheck_reply": {
        "summary": "复核意见（再上一级机关；此后不再受理）",
        "value": {
            "action": "recheck_reply",
            "opinion": "经复核，复查意见认定事实清楚、适用依据正确，予以维持。",
            "outcome": "not_supported",
        },
    },
    "close": {"summary": "办结", "value": {"action": "close", "reason": "已书面答复信访人，办结。"}},
}

ActorDep = Annotated[Principal, Depends(require_roles(*ACT_ROLES))]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Not a handler, or the case is visible but assigned to another unit"},
    404: {"description": "No petition with this id that the caller may see"},
    409: {
        "model": TransitionConflict,
        "description": "The case's state does not allow this action now; the answer lists what it allows",
    },
    422: {"description": "A bad field, or a reply to a claim without its outcome"},
}


@router.post(
    "/{case_id}/actions",
    response_model=PetitionRead,
    summary="Act on a case: accept, decline, object, extend, hearing, reply, review_reply, recheck_reply "
    "or close",
    responses=_RESPONSES,
)
def act_on_case(
    case_id: str,
    body: Annotated[CaseActionRequest, Body(openapi_examples=_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    relay: RelayDep,
    state: StateDep,
    principal: ActorDep,
    scope: ScopeDep,
) -> PetitionRead | JSONResponse:
    """Take the action if the case's state allows it; the case and its event are stored together.

    A 409 says why not and which actions are allowed now. Every action is published as an event
    (``xinfang.case.<accepted|declined|...>.v1``) keyed by case id.
    """
    try:
        case = action_service.take_action(
            session,
            case_id=case_id,
            request=body,
            cipher=cipher,
            principal=principal,
            scope=scope,
            now=state.clock(),
        )
    except TransitionNotAllowed as exc:
        return exc.response()
    except OutcomeRequired as exc:
        raise RequestValidationError(
            [{"loc": ("body", "outcome"), "msg": str(exc), "type": "value_error"}]
        ) from exc
    relay.notify()
    return case
