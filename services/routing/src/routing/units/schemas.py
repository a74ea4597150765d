"""HTTP shapes of units."""

from __future__ import annotations

from pydantic import BaseModel, Field

from routing.org_tree import Unit, UnitKind


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
