"""The authorization matrix of a service: every endpoint × every role × the own or another unit.

Each service's test declares what every endpoint answers (an ``Access`` per operation, written
out by hand so the test checks the policy rather than restating the code) and how to build each
request; ``check_matrix`` calls every operation as every caller and lists what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from xinfang_common.auth import Role
from xinfang_common.testing.auth import bearer

ALL = tuple(Role)

Request = tuple[str, str, dict[str, Any]]
"""Method, path and the other arguments of ``TestClient.request`` (params, json, content, headers)."""


@dataclass(frozen=True)
class Access:
    """The expected status without a token, and per role for a caller of the own and another unit."""

    anonymous: int
    own: dict[Role, int]
    other: dict[Role, int] = field(default_factory=dict)

    def expected(self, role: Role, *, own_unit: bool) -> int:
        """What ``role`` gets as staff of the data's own unit, or of another unit."""
        return self.own[role] if own_unit or not self.other else self.other[role]


def public(status: int = 200) -> Access:
    """Anyone, with or without a token, gets ``status``."""
    return Access(status, dict.fromkeys(ALL, status))


def only(roles: tuple[Role, ...], ok: int, *, anonymous: int = 401) -> Access:
    """``roles`` get ``ok`` whatever their unit; every other role 403."""
    return Access(anonymous, {role: ok if role in roles else 403 for role in ALL})


def operations(app: FastAPI) -> set[str]:
    """Every operation of the app's OpenAPI document, as ``"GET /path"``."""
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}


def check_matrix(
    client: TestClient,
    app: FastAPI,
    matrix: Mapping[str, Access],
    build: Callable[[str], Request],
    *,
    own_unit: str,
    other_unit: str,
) -> list[str]:
    """Call every operation anonymously and as every role of both units; what was not as expected.

    ``build`` is called afresh for every call, so an operation that removes something can create
    something to remove each time. An expected status missing from the OpenAPI document is wrong
    too: clients read the document.
    """
    documented = {
        f"{method.upper()} {path}": set(op["responses"])
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
    }
    wrong: list[str] = []
    for operation, access in matrix.items():
        callers: list[tuple[str, dict[str, str], int]] = [("anonymous", {}, access.anonymous)]
        for role in ALL:
            for unit in (own_unit, other_unit):
                expected = access.expected(role, own_unit=unit == own_unit)
                callers.append((f"{role} of {unit}", bearer(unit, role), expected))
        for who, headers, expected in callers:
            method, path, arguments = build(operation)
            arguments = {**arguments, "headers": {**arguments.get("headers", {}), **headers}}
            response = client.request(method, path, **arguments)
            if response.status_code != expected:
                got = f"{response.status_code} {response.text[:200]}"
                wrong.append(f"{operation} as {who}: {got}, expected {expected}")
            elif str(expected) not in documented[operation]:
                wrong.append(f"{operation} as {who}: {expected} is not in the OpenAPI document")
    return wrong
