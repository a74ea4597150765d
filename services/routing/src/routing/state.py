"""What the HTTP endpoints and the agents share inside one routing process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from routing.configured_rules import RulesWatcher
from routing.model_watch import ClassifierWatcher
from routing.org_tree import OrgTree
from routing.units.registry import UnitRegistry
from xinfang_common.domain import UnitKind

if TYPE_CHECKING:
    from routing.agents import PetitionRouter


@dataclass
class RoutingState:
    """The org tree, rules and classifier in force; held in one place so a reload swaps them for everyone."""

    units: UnitRegistry
    classifier: ClassifierWatcher = field(default_factory=lambda: ClassifierWatcher(None))
    min_confidence: float = 0.6
    rules: RulesWatcher = field(default_factory=lambda: RulesWatcher(None))
    report_target: UnitKind = UnitKind.DISCIPLINE_INSPECTION
    training_data_path: Path = Path("var/routing-training.csv")
    router: PetitionRouter | None = None

    @property
    def org_tree(self) -> OrgTree:
        """The org tree in force."""
        return self.units.tree
