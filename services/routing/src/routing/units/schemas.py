"""HTTP shapes of units."""

from __future__ import annotations

from pydantic import BaseModel, Field

from routing.org_tree import Unit
from xinfang_common.domain import UnitKind


class UnitRead(BaseModel):
    """A unit of the org tree, with its parent's code (the tree is listed flat)."""

    code: str
    name: str
    parent: str | None = Field(description="code of the parent unit; null for the root")
    kind: UnitKind
    regions: list[str] = Field(description="GB/T 2260 divisions the unit serves")
    categories: list[str] = Field(description="petition categories the unit handles")
    active: bool
    successor: str | None = Field(description="code of the unit that took over, if inactive")

    @classmethod
    def of(cls, unit: Unit) -> UnitRead:
        """The HTTP view of ``unit``."""
        return cls(
            code=unit.code,
            name=unit.name,
            parent=unit.parent,
            kind=unit.kind,
            regions=list(unit.regions),
            categories=list(unit.categories),
            active=unit.active,
            successor=unit.successor,
        )


class UnitList(BaseModel):
    """Every unit of the org tree, root first, then in file order."""

    items: list[UnitRead]
    total: int


class UnitWrite(BaseModel):
    """A unit to create or replace; the code comes from the path (``code`` here must match it)."""

    code: str | None = Field(
        default=None, description="optional in PUT /v1/units/{code}; required in PUT /v1/units"
    )
    name: str = Field(min_length=1, max_length=200)
    parent: str | None = Field(default=None, description="code of the parent unit; null for the root")
    kind: UnitKind
    regions: list[str] = Field(min_length=1, description="GB/T 2260 divisions the unit serves")
    categories: list[str] = Field(default_factory=list, description="petition categories the unit handles")
    active: bool = True
    successor: str | None = Field(default=None, description="code of the unit that took over, if inactive")

    def to_unit(self, code: str) -> Unit:
        """The unit; ValidationError names what is wrong (bad code, region, duplicates)."""
        return Unit.model_validate({**self.model_dump(), "code": code})
