"""``/v1/units``: read the org tree; create, replace or replace all of its units."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from routing.deps import ROLE_RESPONSES, AdminDep, OrgTreeDep, StateDep
from routing.errors import UnitNotFound
from routing.org_tree import OrgTreeError
from routing.units.registry import tree_problems
from routing.units.schemas import UnitList, UnitRead, UnitWrite

router = APIRouter(prefix="/v1/units", tags=["units"])

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "The unit (or tree) is invalid: each field at fault with the reason"}
}


def _invalid(error: OrgTreeError, *, prefix: tuple[str | int, ...] = ()) -> RequestValidationError:
    """The tree's problems in the suite's 422 shape, naming unit and field."""
    return RequestValidationError(
        [
            {
                "loc": ("body", *prefix, *((unit,) if unit and prefix else ()), field),
                "msg": f"unit {unit}: {reason}" if unit else reason,
                "type": "value_error",
            }
            for unit, field, reason in tree_problems(error)
        ]
    )


@router.get("", summary="List every unit of the org tree (flat, with parent codes)")
async def list_units(tree: OrgTreeDep) -> UnitList:
    """Every unit, root first."""
    units = tree.units()
    return UnitList(items=[UnitRead.of(unit) for unit in units], total=len(units))


@router.put(
    "",
    summary="Replace the whole org tree; units left out are removed",
    responses={**ROLE_RESPONSES, **_INVALID},
)
async def replace_units(body: list[UnitWrite], state: StateDep, _: AdminDep) -> UnitList:
    """Check the new tree as a whole, publish every unit on the units topic, and put it in force."""
    try:
        units = [item.to_unit(item.code or "") for item in body]
        await state.units.replace_all(units)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    except OrgTreeError as exc:
        raise _invalid(exc) from exc
    return await list_units(state.org_tree)


@router.get(
    "/{code}",
    summary="One unit of the org tree",
    responses={404: {"description": "No unit has this code"}},
)
async def get_unit(code: str, tree: OrgTreeDep) -> UnitRead:
    """The unit with ``code``."""
    unit = tree.get(code)
    if unit is None:
        raise UnitNotFound(f"no unit has code {code!r}")
    return UnitRead.of(unit)


@router.put(
    "/{code}",
    summary="Create or replace one unit (checked against the whole tree)",
    responses={
        **ROLE_RESPONSES,
        **_INVALID,
        201: {"description": "Created"},
        200: {"description": "Replaced"},
    },
)
async def put_unit(code: str, body: UnitWrite, state: StateDep, response: Response, _: AdminDep) -> UnitRead:
    """Publish the unit on the units topic and put it in force; 201 when it is new."""
    if body.code is not None and body.code != code:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "code"),
                    "msg": f"differs from the code in the path ({code})",
                    "type": "value_error",
                }
            ]
        )
    try:
        unit = body.to_unit(code)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("path" if e["loc"] == ("code",) else "body", *e["loc"])} for e in exc.errors()]
        ) from exc
    try:
        created = await state.units.put(unit)
    except OrgTreeError as exc:
        raise _invalid(exc) from exc
    response.status_code = 201 if created else 200
    return UnitRead.of(unit)
