"""Intake's copy of the organisation tree, kept from routing's units topic.

Intake needs the hierarchy for two decisions only: which cases a supervisor's subtree covers,
and whether a caller sits inside the unit a report is about (Art. 30).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from intake.db import Base
from xinfang_common.cloudevents import CloudEvent
from xinfang_common.events import UnitChanged

MAX_DEPTH = 64
"""Deeper than any real organisation; stops a walk on a (corrupt) cycle."""


class KnownUnit(Base):
    """A unit as routing last published it."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool]
    changed_at: Mapped[datetime]


def apply_unit_changed(session: Session, event: CloudEvent[Any]) -> None:
    """Upsert the unit (in the caller's transaction); an older version never overwrites a newer one."""
    data: UnitChanged = event.data
    unit = session.get(KnownUnit, data.code, with_for_update=True)
    if unit is None:
        unit = KnownUnit(code=data.code)
        session.add(unit)
    elif unit.changed_at >= data.changed_at:
        return
    unit.name = data.name
    unit.parent = data.parent
    unit.kind = data.kind.value
    unit.active = data.active
    unit.changed_at = data.changed_at


class UnitTree:
    """The parent links of every known unit, read once per request."""

    def __init__(self, parents: dict[str, str | None]) -> None:
        self._parents = parents
        self._children: dict[str, list[str]] = {}
        for code, parent in parents.items():
            if parent is not None:
                self._children.setdefault(parent, []).append(code)

    @classmethod
    def load(cls, session: Session) -> UnitTree:
        """The tree as intake knows it now."""
        rows = session.execute(select(KnownUnit.code, KnownUnit.parent)).all()
        return cls({code: parent for code, parent in rows})

    def ancestors_or_self(self, code: str) -> set[str]:
        """``code`` and every unit above it (just ``code`` when the unit is unknown)."""
        found = {code}
        current = self._parents.get(code)
        while current is not None and current not in found and len(found) < MAX_DEPTH:
            found.add(current)
            current = self._parents.get(current)
        return found

    def subtree(self, code: str) -> set[str]:
        """``code`` and every unit below it."""
        found = {code}
        pending = [code]
        while pending:
            for child in self._children.get(pending.pop(), ()):
                if child not in found:
                    found.add(child)
                    pending.append(child)
        return found
