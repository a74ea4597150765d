"""``Idempotency-Key``: a retried registration answers as the first one did and creates nothing.

A key is remembered per endpoint (``scope``) with the SHA-256 of the validated request body and
the first answer, in the same transaction as the petition it created: a crash cannot leave a
petition without its key or a key without its petition. The answer holds the tracking code,
which intake never stores in clear, so it is kept encrypted with the personal-data cipher,
bound to its scope and key. Two requests racing with one key both try to insert the same
primary key; the loser's transaction (petition and outbox row included) rolls back and it
answers with the winner's stored answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel
from sqlalchemy import Integer, String, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from intake import metrics
from intake.crypto import PersonalDataCipher
from intake.db import Base
from intake.deps import StateDep
from xinfang_common.cloudevents import utcnow
from xinfang_common.errors import Conflict

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
FIELD = f"header.{HEADER}"
"""How validation errors name the header (as the suite names ``query.cursor``)."""

MAX_KEY_LENGTH = 200
KEY_PATTERN = r"^[\x20-\x7e]{1,200}$"
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")

SCOPE_PETITIONS = "petitions"
SCOPE_OPEN311 = "open311"

HEADER_DESCRIPTION = (
    "A client-chosen key (1-200 printable ASCII characters, e.g. a UUID) that makes a retry "
    "safe: the same key with the same body, within the keys' lifetime (INTAKE_IDEMPOTENCY_TTL_HOURS, "
    "24 h by default), answers with the first answer (header `Idempotent-Replayed: true`) and "
    "registers nothing; the same key with a different body is refused with 409."
)
HEADER_EXAMPLE = "7f9c2ba4-e88f-4c2b-9a1d-3c5e8b0f6d21"

REPLAYED_DOC: dict[str, Any] = {
    "description": "`true` when this is the stored answer to an earlier request with the same "
    "Idempotency-Key (nothing new was registered); absent otherwise",
    "schema": {"type": "string", "enum": ["true"]},
}
CONFLICT_DETAIL = (
    f"this {HEADER} was already used with a different request body; send a new key for a new request"
)
RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"headers": {REPLAYED_HEADER: REPLAYED_DOC}},
    409: {
        "description": f"The {HEADER} was already used with a different body",
        "content": {
            "application/json": {"example": {"error": "IdempotencyKeyReused", "detail": CONFLICT_DETAIL}}
        },
    },
}
"""OpenAPI documentation of what an Idempotency-Key adds to an endpoint's responses."""

T = TypeVar("T")
Within = Callable[[Session, T], None]
"""Called inside the registration's transaction with what it created."""


class IdempotencyKeyReused(Conflict):
    """The Idempotency-Key was already used with a different request body."""


class IdempotencyKey(Base):
    """The first answer given to a request carrying this key at this endpoint."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the canonical request body")
    status_code: Mapped[int] = mapped_column(Integer)
    response_enc: Mapped[str] = mapped_column(
        Text, doc="the answer's JSON, encrypted (holds the tracking code)"
    )
    created_at: Mapped[datetime] = mapped_column(index=True)


def key_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable key, or None if it is."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_KEY_LENGTH:
        return f"at most {MAX_KEY_LENGTH} characters"
    if not _PRINTABLE_ASCII.fullmatch(value):
        return "printable ASCII characters only"
    return None


def request_hash(body: BaseModel) -> str:
    """SHA-256 of the validated body as canonical JSON: field order and whitespace do not matter."""
    canonical = json.dumps(
        body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IdempotentRequest:
    """A request that carried an Idempotency-Key."""

    scope: str
    key: str
    request_hash: str

    @classmethod
    def of(cls, scope: str, key: str | None, body: BaseModel) -> IdempotentRequest | None:
        """The idempotent request, or None when the client sent no key."""
        return None if key is None else cls(scope, key, request_hash(body))

    @property
    def context(self) -> str:
        """What the stored answer's encryption is bound to."""
        return f"intake/idempotency/{self.scope}/{self.key}"


@dataclass(frozen=True)
class Answer:
    """What to send back: a fresh answer or the replay of a stored one."""

    status_code: int
    body: Any
    replayed: bool = False

    def response(self) -> JSONResponse:
        """The HTTP response, marked when it is a replay."""
        headers = {REPLAYED_HEADER: "true"} if self.replayed else None
        return JSONResponse(status_code=self.status_code, content=self.body, headers=headers)


_IDEMPOTENCY_KEYS = cast(Table, IdempotencyKey.__table__)


class IdempotencyStore:
    """Remembers first answers by key for ``ttl``; expired keys are purged when keys are used."""

    def __init__(self, *, cipher: PersonalDataCipher, ttl: timedelta) -> None:
        self._cipher = cipher
        self._ttl = ttl

    def lookup(
        self, session: Session, request: IdempotentRequest, *, now: datetime | None = None
    ) -> Answer | None:
        """The stored answer for this key, or None if it is new or expired; raises IdempotencyKeyReused."""
        cutoff = (now or utcnow()) - self._ttl
        with session.begin():
            # Lazy purge: every key ever sent would otherwise stay forever (most are never reused).
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
            row = session.execute(
                select(
                    IdempotencyKey.request_hash, IdempotencyKey.status_code, IdempotencyKey.response_enc
                ).where(
                    IdempotencyKey.scope == request.scope,
                    IdempotencyKey.key == request.key,
                    IdempotencyKey.created_at >= cutoff,
                )
            ).one_or_none()
        if row is None:
            return None
        stored_hash, status_code, response_enc = row
        if stored_hash != request.request_hash:
            metrics.IDEMPOTENT_REQUESTS.labels("conflict").inc()
            raise IdempotencyKeyReused(CONFLICT_DETAIL)
        body = json.loads(self._cipher.decrypt(response_enc, context=request.context))
        metrics.IDEMPOTENT_REQUESTS.labels("replayed").inc()
        return Answer(status_code=status_code, body=body, replayed=True)

    def remember(self, session: Session, request: IdempotentRequest, *, status_code: int, body: Any) -> None:
        """Store the answer in the caller's transaction; a key already taken raises IntegrityError now."""
        answer = json.dumps(body, ensure_ascii=False)
        # Inserted at once, so a concurrent duplicate fails here, before anything else is written.
        session.execute(
            insert(_IDEMPOTENCY_KEYS),
            {
                "scope": request.scope,
                "key": request.key,
                "request_hash": request.request_hash,
                "status_code": status_code,
                "response_enc": self._cipher.encrypt(answer, context=request.context),
                "created_at": utcnow(),
            },
        )

    def run(
        self,
        session: Session,
        request: IdempotentRequest | None,
        *,
        status_code: int,
        register: Callable[[Within[T] | None], T],
        render: Callable[[T], Any],
    ) -> Answer:
        """Register for a new key (or no key), else replay the stored answer.

        ``register`` must pass ``within`` to the registration, which calls it in its transaction.
        """
        if request is None:
            return Answer(status_code=status_code, body=render(register(None)))
        found = self.lookup(session, request)
        if found is not None:
            return found

        def within(tx: Session, created: T) -> None:
            self.remember(tx, request, status_code=status_code, body=render(created))

        try:
            created = register(within)
        except IntegrityError:
            # Most likely a concurrent request with this key committed first: answer as it did.
            session.rollback()
            found = self.lookup(session, request)
            if found is None:
                raise
            return found
        metrics.IDEMPOTENT_REQUESTS.labels("created").inc()
        return Answer(status_code=status_code, body=render(created))


def get_store(state: StateDep) -> IdempotencyStore:
    """The idempotency store of the running service."""
    return store_of(state.cipher, ttl_hours=state.settings.idempotency_ttl_hours)


def store_of(cipher: PersonalDataCipher, *, ttl_hours: float) -> IdempotencyStore:
    """A store keeping keys ``ttl_hours`` hours."""
    return IdempotencyStore(cipher=cipher, ttl=timedelta(hours=ttl_hours))


IdempotencyDep = Annotated[IdempotencyStore, Depends(get_store)]


def _acceptable_key(value: str | None) -> str | None:
    problem = None if value is None else key_problem(value)
    if problem:
        raise ValueError(problem)
    return value


IdempotencyKeyHeader = Annotated[
    str | None,
    AfterValidator(_acceptable_key),
    Header(
        alias=HEADER,
        # Checked by _acceptable_key, whose messages say what is wrong in words; shown in OpenAPI.
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
        description=HEADER_DESCRIPTION,
        examples=[HEADER_EXAMPLE],
    ),
]
"""The optional Idempotency-Key header, validated (422 naming ``header.Idempotency-Key``)."""
