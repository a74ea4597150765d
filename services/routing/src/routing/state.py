"""What the HTTP endpoints and the agent share inside one routing process."""

from __future__ import annotations

from dataclasses import dataclass, field

from routing.model_watch import ClassifierWatcher
from routing.org_tree import OrgTree


@dataclass
class RoutingState:
    """The org tree and classifier in force; held in one place so that a reload swaps them for everyone."""

    org_tree: OrgTree
    classifier: ClassifierWatcher = field(default_factory=lambda: ClassifierWatcher(None))
    min_confidence: float = 0.6
