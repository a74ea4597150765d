"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from routing.org_tree import OrgTree
from routing.state import RoutingState
from xinfang_common.auth import Principal, Role, require_roles


def get_state(request: Request) -> RoutingState:
    """Everything the routing process holds in force."""
    state: RoutingState = request.app.state.routing
    return state


def get_org_tree(request: Request) -> OrgTree:
    """The org tree in force."""
    return get_state(request).org_tree


OrgTreeDep = Annotated[OrgTree, Depends(get_org_tree)]
StateDep = Annotated[RoutingState, Depends(get_state)]

UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {401: {"description": "No valid bearer token"}}
ROLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **UNAUTHENTICATED,
    403: {"description": "The token's roles do not allow this"},
}
"""The answers of an endpoint that needs a token with one of some roles, for its ``responses``."""

AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
"""Changing the organisation tree is for administrators."""
TriagerDep = Annotated[Principal, Depends(require_roles(Role.REGISTRAR, Role.ADMIN))]
"""Petition office staff (registrars) choose the unit of a case routing could not decide."""
TriageReaderDep = Annotated[Principal, Depends(require_roles(Role.REGISTRAR, Role.SUPERVISOR, Role.ADMIN))]
StaffDep = Annotated[Principal, Depends(require_roles(*Role))]
