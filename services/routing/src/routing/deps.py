"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from routing.org_tree import OrgTree
from routing.state import RoutingState


def get_state(request: Request) -> RoutingState:
    """Everything the routing process holds in force."""
    state: RoutingState = request.app.state.routing
    return state


def get_org_tree(request: Request) -> OrgTree:
    """The org tree in force."""
    return get_state(request).org_tree


OrgTreeDep = Annotated[OrgTree, Depends(get_org_tree)]
StateDep = Annotated[RoutingState, Depends(get_state)]
