"""``/v1/units``: read the org tree."""

from __future__ import annotations

from fastapi import APIRouter

from routing.deps import OrgTreeDep
from routing.errors import UnitNotFound
from routing.units.schemas import UnitList, UnitRead

router = APIRouter(prefix="/v1/units", tags=["units"])


@router.get("", summary="List every unit of the org tree (flat, with parent codes)")
async def list_units(tree: OrgTreeDep) -> UnitList:
    """Every unit, root first."""
    units = sorted(tree, key=lambda unit: unit.parent is not None)
    return UnitList(items=[UnitRead.of(unit) for unit in units], total=len(units))


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
