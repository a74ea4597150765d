"""Who may read which figures: supervisors their own subtree, auditors and admins everything."""

from __future__ import annotations

from dataclasses import dataclass

from reporting.readmodel.units import UnitTree
from xinfang_common.auth import Forbidden, Principal, Role

REPORT_ROLES = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
"""Roles that read reports; registrars and handlers work on cases, not on statistics."""


@dataclass(frozen=True)
class Scope:
    """The units whose cases a request counts."""

    unit_codes: frozenset[str] | None
    """None: every case, assigned or not."""
    unit: str | None
    """The unit asked about (the root of the roll-up), if any."""
    subtree: bool
    everything: bool
    """The caller may see every unit (auditor, admin)."""
    shielded_from: frozenset[str]
    """The caller's unit and the units above it: reports about them are left out of subject-unit
    counts (Art. 30), for callers who do not see everything."""


def resolve_scope(principal: Principal, tree: UnitTree, *, unit: str | None, subtree: bool) -> Scope:
    """The scope of a request for ``unit`` (and its subtree) by ``principal``; 403 when not allowed."""
    everything = principal.has(Role.AUDITOR, Role.ADMIN)
    if not everything and not principal.has(Role.SUPERVISOR):
        raise Forbidden("reports need one of the roles: supervisor, auditor, admin")
    if not everything:
        allowed = tree.subtree(principal.unit)
        if unit is None:
            unit = principal.unit
        elif unit not in allowed:
            raise Forbidden(f"a supervisor of {principal.unit} sees only that unit and the units below it")
    codes = None if unit is None else frozenset(tree.subtree(unit) if subtree else {unit})
    shielded = frozenset() if everything else frozenset(tree.ancestors(principal.unit))
    return Scope(unit_codes=codes, unit=unit, subtree=subtree, everything=everything, shielded_from=shielded)
