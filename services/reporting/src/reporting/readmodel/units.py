"""Reporting's copy of the organisation tree (from routing's units topic): subtrees and depths."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from reporting.readmodel.models import Unit

MAX_DEPTH = 64
"""Deeper than any real organisation; stops a walk on a (corrupt) cycle."""


class UnitTree:
    """Parent links and names of every known unit, read once per request."""

    def __init__(self, parents: dict[str, str | None], names: dict[str, str] | None = None) -> None:
        self._parents = parents
        self.names = names or {}
        self._children: dict[str, list[str]] = {}
        for code, parent in parents.items():
            if parent is not None:
                self._children.setdefault(parent, []).append(code)
        for children in self._children.values():
            children.sort()

    @classmethod
    def load(cls, session: Session) -> UnitTree:
        """The tree as reporting knows it now."""
        rows = session.execute(select(Unit.code, Unit.parent, Unit.name)).all()
        return cls({code: parent for code, parent, _ in rows}, {code: name for code, _, name in rows})

    def known(self, code: str) -> bool:
        """Whether routing has published ``code``."""
        return code in self._parents

    def name(self, code: str) -> str:
        """The unit's name, or its code when unknown."""
        return self.names.get(code, code)

    def ancestors(self, code: str) -> list[str]:
        """``code`` and every unit above it, nearest first (just ``code`` when unknown)."""
        found = [code]
        current = self._parents.get(code)
        while current is not None and current not in found and len(found) < MAX_DEPTH:
            found.append(current)
            current = self._parents.get(current)
        return found

    def children(self, code: str) -> list[str]:
        """The units directly below ``code``."""
        return list(self._children.get(code, ()))

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

    def depth(self, code: str) -> int:
        """1 for a root, 2 for its children, ...; an unknown unit counts as a root."""
        return len(self.ancestors(code))

    def at_depth(self, code: str, depth: int) -> str:
        """The unit itself when it is at ``depth`` or above, else its ancestor at ``depth``."""
        chain = self.ancestors(code)
        return chain[max(0, len(chain) - depth)]

    def group_under(self, top: str, code: str) -> str | None:
        """Which child of ``top`` (or ``top`` itself) ``code`` rolls up into; None if outside."""
        chain = self.ancestors(code)
        if top not in chain:
            return None
        position = chain.index(top)
        return top if position == 0 else chain[position - 1]
