"""Who may see and do what with a case: roles, units and the reporter shield of Art. 30.

- registrar: the cases its unit registered; may register.
- handler: the cases currently assigned to its unit; may act on them.
- supervisor: read-only, the cases assigned to or registered by its unit or any unit below it.
- auditor: read-only, every case, and the audit log.
- admin: everything.

Over all of these, a report (检举控告) is invisible to anyone whose unit is the reported unit or
lies below it (Art. 30), whatever their roles. A case a caller may not see is answered as if it
did not exist (404), so that its existence leaks nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from intake.access.units import UnitTree
from intake.petitions.models import Petition
from xinfang_common.auth import Principal, Role
from xinfang_common.domain import PetitionType

READ_ROLES = (Role.REGISTRAR, Role.HANDLER, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
"""Every role reads cases (each within its scope)."""

UNMASK_ROLES = (Role.REGISTRAR, Role.HANDLER, Role.SUPERVISOR, Role.ADMIN)
"""Who may read petitioners' personal data in full (audited); auditors see the audit log instead."""

REGISTER_ROLES = (Role.REGISTRAR, Role.ADMIN)
ACT_ROLES = (Role.HANDLER, Role.ADMIN)
AUDIT_ROLES = (Role.AUDITOR, Role.ADMIN)
IMPORT_ROLES = (Role.ADMIN,)


@dataclass(frozen=True)
class CaseScope:
    """The cases one caller may see, as sets of unit codes."""

    everything: bool
    assigned_units: frozenset[str]
    registered_units: frozenset[str]
    shielded_from: frozenset[str]
    """Reports about any of these units are hidden: the caller's unit and every unit above it."""

    @classmethod
    def of(cls, principal: Principal, tree: UnitTree) -> CaseScope:
        """The scope of ``principal`` given the organisation tree."""
        assigned: set[str] = set()
        registered: set[str] = set()
        if principal.has(Role.HANDLER):
            assigned.add(principal.unit)
        if principal.has(Role.REGISTRAR):
            registered.add(principal.unit)
        if principal.has(Role.SUPERVISOR):
            below = tree.subtree(principal.unit)
            assigned |= below
            registered |= below
        return cls(
            everything=principal.has(Role.AUDITOR, Role.ADMIN),
            assigned_units=frozenset(assigned),
            registered_units=frozenset(registered),
            shielded_from=frozenset(tree.ancestors_or_self(principal.unit)),
        )

    def where(self) -> ColumnElement[bool]:
        """The SQL condition selecting exactly the visible cases."""
        if self.everything:
            within: ColumnElement[bool] = true()
        else:
            within = or_(
                Petition.assigned_unit_code.in_(self.assigned_units) if self.assigned_units else false(),
                Petition.registered_by_unit.in_(self.registered_units) if self.registered_units else false(),
            )
        # coalesce: a NULL type or subject must make the shield false, not unknown (which
        # NOT would keep unknown and so hide the row).
        shielded = and_(
            func.coalesce(Petition.petition_type, "") == PetitionType.REPORT.value,
            func.coalesce(Petition.subject_unit, "").in_(self.shielded_from),
        )
        return and_(within, not_(shielded))

    def sees(self, petition: Petition) -> bool:
        """Whether the case is visible (the same rule as ``where``, for one loaded case)."""
        if is_shielded(petition, self.shielded_from):
            return False
        return (
            self.everything
            or petition.assigned_unit_code in self.assigned_units
            or petition.registered_by_unit in self.registered_units
        )


def is_shielded(petition: Petition, shielded_from: frozenset[str]) -> bool:
    """Whether the case is a report about one of ``shielded_from`` (Art. 30)."""
    return petition.petition_type == PetitionType.REPORT.value and petition.subject_unit in shielded_from


def may_act(principal: Principal, petition: Petition) -> bool:
    """Whether ``principal`` may take actions on the case: its unit holds it, or an admin."""
    if principal.has(Role.ADMIN):
        return True
    return principal.has(Role.HANDLER) and petition.assigned_unit_code == principal.unit
