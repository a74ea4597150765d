"""The organisation tree: units, what regions and categories they serve, loaded from YAML."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xinfang_common.domain import RegionCode, UnitKind, region_contains
from xinfang_common.events import UnitChanged

__all__ = ["OrgTree", "OrgTreeError", "Unit", "UnitKind", "load_org_tree", "parse_org_tree"]


class Unit(BaseModel):
    """One unit that can be made responsible for a case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$", description="stable unit code")
    name: str = Field(min_length=1, max_length=200)
    parent: str | None = Field(default=None, description="code of the parent unit; null for the root")
    kind: UnitKind
    regions: tuple[RegionCode, ...] = Field(description="GB/T 2260 divisions served (at least one)")
    categories: tuple[str, ...] = Field(default=(), description="petition categories handled")
    active: bool = True
    successor: str | None = Field(default=None, description="code of the unit taking over, if inactive")

    @field_validator("regions", "categories")
    @classmethod
    def _no_duplicates(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(values)) != len(values):
            raise ValueError("lists a value twice")
        return values

    @field_validator("regions")
    @classmethod
    def _serves_somewhere(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        # An after-validator, so that one bad code is not reported a second time as "empty".
        if not values:
            raise ValueError("a unit must serve at least one region")
        return values

    @classmethod
    def of_event(cls, data: UnitChanged) -> Unit:
        """The unit a UnitChanged event describes."""
        return cls.model_validate(data.model_dump(exclude={"changed_at"}))

    def to_event(self, changed_at: datetime) -> UnitChanged:
        """This unit as a UnitChanged payload."""
        return UnitChanged.model_validate({**self.model_dump(), "changed_at": changed_at})

    def serves(self, region: str) -> bool:
        """Whether one of the unit's regions contains ``region`` (or is contained by it)."""
        return any(region_contains(r, region) or region_contains(region, r) for r in self.regions)


class OrgTreeError(ValueError):
    """The org tree file is missing, unreadable or inconsistent; the message names unit and field."""


class OrgTree:
    """A validated tree of units with the look-ups routing needs."""

    def __init__(self, units: Sequence[Unit]) -> None:
        problems = _tree_problems(units)
        if problems:
            raise OrgTreeError("invalid org tree:\n  " + "\n  ".join(problems))
        self._units: dict[str, Unit] = {unit.code: unit for unit in units}
        self._children: dict[str, list[str]] = {code: [] for code in self._units}
        for unit in units:
            if unit.parent is not None:
                self._children[unit.parent].append(unit.code)
        self.root: Unit = next(unit for unit in units if unit.parent is None)
        self._depth: dict[str, int] = {code: len(self.ancestors(code)) for code in self._units}

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def __len__(self) -> int:
        return len(self._units)

    def __contains__(self, code: object) -> bool:
        return code in self._units

    def get(self, code: str) -> Unit | None:
        """The unit with this code, or None."""
        return self._units.get(code)

    def depth(self, code: str) -> int:
        """0 for the root, 1 for its children, and so on."""
        return self._depth[code]

    def ancestors(self, code: str) -> list[Unit]:
        """The parent, its parent, ... up to the root."""
        chain: list[Unit] = []
        parent = self._units[code].parent
        while parent is not None:
            chain.append(self._units[parent])
            parent = self._units[parent].parent
        return chain

    def subtree(self, code: str) -> set[str]:
        """Codes of the unit and of every unit below it."""
        found: set[str] = set()
        pending = [code]
        while pending:
            current = pending.pop()
            found.add(current)
            pending.extend(self._children[current])
        return found

    def resolve(self, unit: Unit) -> tuple[Unit | None, list[Unit]]:
        """The active unit that now does ``unit``'s work, and the inactive units passed on the way.

        None when the chain of successors ends at an inactive unit without one (a unit that was
        dissolved and whose duties went nowhere in this tree).
        """
        passed: list[Unit] = []
        current: Unit | None = unit
        while current is not None and not current.active:
            if current in passed:
                # A validated tree has no successor loops; this guards trees built otherwise.
                return None, passed
            passed.append(current)
            current = self._units.get(current.successor) if current.successor else None
        return current, passed

    def lowest_common_ancestor(self, codes: Iterable[str]) -> Unit:
        """The deepest unit that is, or is above, every unit in ``codes`` (the root at worst)."""
        chains = [[self._units[code], *self.ancestors(code)] for code in codes]
        if not chains:
            return self.root
        common = {u.code for u in chains[0]}
        for chain in chains[1:]:
            common &= {u.code for u in chain}
        return next(u for u in chains[0] if u.code in common)

    def units(self) -> list[Unit]:
        """Every unit, root first, then in the order given."""
        return sorted(self._units.values(), key=lambda unit: unit.parent is not None)

    def replacing(self, unit: Unit) -> OrgTree:
        """A new tree with ``unit`` added or replacing the one with its code; OrgTreeError if invalid."""
        units = dict(self._units)
        units[unit.code] = unit
        return OrgTree(list(units.values()))


def _tree_problems(units: Sequence[Unit]) -> list[str]:
    """Every consistency problem of the tree, each naming the unit and the field."""
    problems: list[str] = []
    by_code: dict[str, Unit] = {}
    for unit in units:
        if unit.code in by_code:
            problems.append(f"unit {unit.code}, field code: the code is used by more than one unit")
        by_code[unit.code] = unit
    for unit in units:
        if unit.parent is not None and unit.parent not in by_code:
            problems.append(f"unit {unit.code}, field parent: no unit has code {unit.parent!r}")
        if unit.parent == unit.code:
            problems.append(f"unit {unit.code}, field parent: a unit cannot be its own parent")
        if unit.successor is not None:
            if unit.active:
                problems.append(
                    f"unit {unit.code}, field successor: only an inactive unit can have a successor"
                )
            elif unit.successor not in by_code:
                problems.append(f"unit {unit.code}, field successor: no unit has code {unit.successor!r}")
    roots = [unit.code for unit in units if unit.parent is None]
    if len(roots) != 1:
        listed = ", ".join(roots) if roots else "none"
        problems.append(f"field parent: exactly one unit must have parent null (the root); found {listed}")
    elif not by_code[roots[0]].active:
        problems.append(
            f"unit {roots[0]}, field active: the root must be active (it takes what no rule places)"
        )
    if problems:
        # Cycle checks below assume every reference resolves.
        return problems
    problems.extend(_cycles(by_code, "parent"))
    problems.extend(_cycles(by_code, "successor"))
    return problems


def _cycles(by_code: Mapping[str, Unit], field: str) -> list[str]:
    """Units whose chain of ``field`` references comes back to itself."""
    problems: list[str] = []
    reported: set[str] = set()
    for start in by_code:
        seen: list[str] = []
        current: str | None = start
        while current is not None and current not in seen:
            seen.append(current)
            current = getattr(by_code[current], field)
        if current is not None and current not in reported:
            loop = seen[seen.index(current) :]
            reported.update(loop)
            problems.append(f"unit {current}, field {field}: cycle {' -> '.join([*loop, current])}")
    return problems


def _describe(error: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in error.get("loc", ())) or "(unit)"
    return f"field {field}: {error.get('msg', 'invalid')}"


def parse_org_tree(document: Any, *, source: str = "org tree") -> OrgTree:
    """Validate a parsed YAML document (a list of unit mappings) into an OrgTree."""
    if not isinstance(document, list) or not document:
        raise OrgTreeError(f"{source}: expected a non-empty list of units at the top level")
    units: list[Unit] = []
    problems: list[str] = []
    for index, item in enumerate(document):
        label = f"#{index + 1}"
        if isinstance(item, Mapping) and isinstance(item.get("code"), str):
            label = str(item["code"])
        try:
            units.append(Unit.model_validate(item))
        except ValidationError as exc:
            problems.extend(f"unit {label}, {_describe(error)}" for error in exc.errors())
    if problems:
        raise OrgTreeError(f"{source}: invalid org tree:\n  " + "\n  ".join(problems))
    try:
        return OrgTree(units)
    except OrgTreeError as exc:
        raise OrgTreeError(f"{source}: {exc}") from None


def load_org_tree(path: Path) -> OrgTree:
    """Read and validate the org tree YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrgTreeError(f"cannot read org tree file {path} (ROUTING_ORG_TREE_PATH): {exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OrgTreeError(f"{path}: not valid YAML: {exc}") from exc
    return parse_org_tree(document, source=str(path))
