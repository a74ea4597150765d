"""Errors the routing API returns to clients."""

from __future__ import annotations

from xinfang_common.errors import Conflict, NotFound, Unavailable


class UnitNotFound(NotFound):
    """No unit in the org tree has this code."""


class UnroutablePetition(Conflict):
    """No unit may lawfully receive the petition; it needs manual triage."""


class CaseNotFound(NotFound):
    """Routing has no record of this case."""


class CaseNotWaiting(Conflict):
    """The case is not waiting in the triage queue."""


class DatabaseUnavailable(Unavailable):
    """Routing's database cannot be reached just now; nothing was changed, try again."""
