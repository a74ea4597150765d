"""Bearer tokens (JWT) naming a staff account, its unit and its roles; shared by every service.

A token is issued by the organisation's identity provider (or, for local use, by
``xinfang-token``) and verified here with a key from configuration: an HMAC secret for HS*
algorithms, a PEM public key for RS*/ES*/EdDSA. The services keep no accounts of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from xinfang_common.cloudevents import utcnow
from xinfang_common.errors import ServiceError
from xinfang_common.settings import XinfangSettings

Algorithm = Literal["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"]


class Role(StrEnum):
    """What a staff account may do; a token carries one or more."""

    REGISTRAR = "registrar"
    """Petition office staff: registers petitions and sees those its unit registered."""
    HANDLER = "handler"
    """Handling unit staff: sees and acts on the cases assigned to its unit."""
    SUPERVISOR = "supervisor"
    """Sees (read-only) the cases of its unit and every unit below it."""
    AUDITOR = "auditor"
    """Reads everything, read-only, including the audit log of personal-data reads."""
    ADMIN = "admin"
    """Operates the system: every endpoint, imports, units."""


class AuthSettings(XinfangSettings):
    """How services verify bearer tokens (``XINFANG_AUTH_*``); the same for every service."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_AUTH_")

    jwt_key: SecretStr = Field(
        default=SecretStr(""),
        description="key that verifies bearer tokens: the shared secret for HS256/384/512 (at least "
        "32 bytes), or the PEM public key for RS*/ES*/EdDSA; required, a service refuses to start "
        "without it",
    )
    jwt_algorithm: Algorithm = Field(default="HS256", description="the one algorithm tokens may use")
    jwt_issuer: str = Field(default="xinfang", min_length=1, description="required `iss` claim")
    jwt_audience: str = Field(default="xinfang", min_length=1, description="required `aud` claim")
    leeway_seconds: int = Field(
        default=30, ge=0, le=600, description="clock skew tolerated when checking `exp` and `nbf`"
    )


class AuthConfigError(ValueError):
    """The token key is missing or unusable; the service must not start."""


class Unauthenticated(ServiceError):
    """No valid bearer token."""

    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Forbidden(ServiceError):
    """The token is valid but its roles do not allow this."""

    status_code = 403


class Principal(BaseModel):
    """Who is calling: the staff account (``sub``), its unit and its roles."""

    model_config = ConfigDict(frozen=True)

    subject: str = Field(min_length=1, max_length=64, description="staff account id, not a name")
    unit: str = Field(min_length=1, max_length=64, description="code of the account's unit")
    roles: frozenset[Role] = Field(min_length=1)

    def has(self, *roles: Role) -> bool:
        """Whether the principal holds any of ``roles``."""
        return bool(self.roles.intersection(roles))


class TokenVerifier:
    """Checks signature, algorithm, issuer, audience and lifetime, and reads the principal."""

    def __init__(self, settings: AuthSettings) -> None:
        key = settings.jwt_key.get_secret_value()
        if not key:
            raise AuthConfigError("XINFANG_AUTH_JWT_KEY is not set: services cannot verify tokens")
        if settings.jwt_algorithm.startswith("HS") and len(key.encode()) < 32:
            raise AuthConfigError("XINFANG_AUTH_JWT_KEY must be at least 32 bytes for HMAC algorithms")
        self._key = key
        self._settings = settings

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; Unauthenticated saying why otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._settings.jwt_algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        try:
            return Principal(
                subject=claims["sub"], unit=claims.get("unit", ""), roles=claims.get("roles", [])
            )
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise Unauthenticated(f"token claims: {reasons}") from exc


def issue_token(
    *,
    subject: str,
    unit: str,
    roles: Iterable[Role | str],
    key: str,
    algorithm: Algorithm = "HS256",
    issuer: str = "xinfang",
    audience: str = "xinfang",
    lifetime: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    """A signed token for ``subject`` of ``unit``; the key is the secret or the PEM private key."""
    principal = Principal(subject=subject, unit=unit, roles=frozenset(Role(r) for r in roles))
    issued = now or utcnow()
    claims = {
        "sub": principal.subject,
        "unit": principal.unit,
        "roles": sorted(principal.roles),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm=algorithm)


_bearer = HTTPBearer(auto_error=False, description="a JWT from your identity provider or xinfang-token")


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


def install_auth(app_state: object, settings: AuthSettings | None = None) -> TokenVerifier:
    """Put the verifier on ``app.state`` (raises AuthConfigError without a usable key)."""
    verifier = TokenVerifier(settings or AuthSettings())
    app_state.token_verifier = verifier  # type: ignore[attr-defined]
    return verifier


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of this request; 401 without a valid bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("this endpoint needs an Authorization: Bearer <token> header")
    return _verifier(request).verify(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only principals that hold one of ``roles`` (403 otherwise)."""
    allowed = ", ".join(roles)

    def check(principal: PrincipalDep) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"needs one of the roles: {allowed}")
        return principal

    return check
