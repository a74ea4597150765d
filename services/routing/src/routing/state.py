"""What the HTTP endpoints and the agent share inside one routing process."""

from __future__ import annotations

from dataclasses import dataclass

from routing.org_tree import OrgTree


@dataclass
class RoutingState:
    """The org tree in force; held in one place so that a later reload swaps it for everyone."""

    org_tree: OrgTree
