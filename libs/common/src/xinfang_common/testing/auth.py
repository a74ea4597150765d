"""Bearer tokens for tests: one fixed HMAC key and helpers to sign as any unit and roles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.testclient import TestClient

from xinfang_common.auth import AuthSettings, Role, issue_token

TEST_JWT_KEY = "xinfang-test-signing-key-0123456789abcdef"
"""The HMAC secret tests sign and verify with (never used outside tests)."""

ROOT_UNIT = "430100-xfj"


def auth_settings_for_tests() -> AuthSettings:
    """Settings that verify tokens signed by ``token_for``."""
    return AuthSettings(jwt_key=TEST_JWT_KEY)


def token_for(unit: str = ROOT_UNIT, roles: Iterable[Role | str] = (Role.ADMIN,), subject: str = "") -> str:
    """A valid token for a staff account of ``unit`` holding ``roles``."""
    roles = tuple(roles)
    return issue_token(
        subject=subject or f"test-{'-'.join(sorted(str(r) for r in roles))}",
        unit=unit,
        roles=roles,
        key=TEST_JWT_KEY,
    )


def bearer(unit: str = ROOT_UNIT, *roles: Role | str, subject: str = "") -> dict[str, str]:
    """An Authorization header for ``unit`` with ``roles`` (admin when none are given)."""
    return {"Authorization": f"Bearer {token_for(unit, roles or (Role.ADMIN,), subject)}"}


def staff_client(
    app: Any, *, unit: str = ROOT_UNIT, roles: Iterable[Role | str] = (Role.ADMIN,)
) -> TestClient:
    """A TestClient sending a token for ``unit`` and ``roles`` (an admin of the root by default)."""
    return TestClient(app, headers=bearer(unit, *roles))
