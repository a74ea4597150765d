"""The petitioner's endpoints (``/v1/track/{code}``): follow a case, rate an answer, ask for review.

Every request counts against the caller's address (INTAKE_TRACK_RATE_PER_MINUTE), and a code
that matches no case counts again (INTAKE_TRACK_FAILED_PER_HOUR); over either limit: 429.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request

from intake import metrics
from intake.deps import IntakeState, RelayDep, SessionDep, StateDep
from intake.tracking import service
from intake.tracking.rate_limit import RateLimited, client_address, parse_proxies
from intake.tracking.schemas import RatingCreate, RatingRead, ReviewCreate, ReviewRead, TrackedCase

T = TypeVar("T")


class _Guard:
    """Counts the request against the caller's limits, and a lookup that found nothing."""

    def __init__(self, state: IntakeState, address: str) -> None:
        self._state = state
        self._address = address

    def run(self, call: Callable[[], T]) -> T:
        """Run the lookup; a code matching no case is counted as a failure of this address."""
        try:
            result = call()
        except service.TrackingCodeNotFound:
            self._state.track_limiter.failed(self._address)
            metrics.TRACK_REQUESTS.labels("not_found").inc()
            raise
        metrics.TRACK_REQUESTS.labels("found").inc()
        return result


def rate_limited(request: Request, state: StateDep) -> _Guard:
    """Admit the request within the address's limits, or answer 429 with Retry-After."""
    address = client_address(request, parse_proxies(state.settings.trusted_proxies))
    try:
        state.track_limiter.admit(address)
    except RateLimited:
        metrics.TRACK_REQUESTS.labels("rate_limited").inc()
        raise
    return _Guard(state, address)


GuardDep = Annotated[_Guard, Depends(rate_limited)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No case matches this tracking code (the same answer for any wrong code)"},
    429: {"description": "Too many requests or failed lookups from this address; see Retry-After"},
}

router = APIRouter(prefix="/v1/track", tags=["tracking (petitioners)"])


@router.get(
    "/{code}", response_model=TrackedCase, summary="Follow a case by its tracking code", responses=_ERRORS
)
def track_case(code: str, session: SessionDep, state: StateDep, guard: GuardDep) -> TrackedCase:
    """Status, steps, responsible unit, deadlines, the latest answer, and what may be done next.

    Nobody's personal data, no staff ids, no internal notes. Case, hyphens, spaces and the
    letters O/I/L (read as 0/1/1) in the code are forgiven.
    """
    return guard.run(lambda: service.track(session, code=code, now=state.clock(), calendar=state.calendar))


@router.post(
    "/{code}/rating",
    response_model=RatingRead,
    status_code=201,
    summary="Rate the latest answer (once per answer)",
    responses={**_ERRORS, 409: {"description": "No answer yet, or this answer was already rated"}},
)
def rate_case(
    code: str, body: RatingCreate, session: SessionDep, state: StateDep, relay: RelayDep, guard: GuardDep
) -> RatingRead:
    """Satisfied, basically satisfied or dissatisfied, with an optional comment that stays in intake."""
    rating = guard.run(lambda: service.rate(session, code=code, data=body, now=state.clock()))
    relay.notify()
    return rating


@router.post(
    "/{code}/review",
    response_model=ReviewRead,
    status_code=201,
    summary="Ask the next superior unit for a review (复查) or recheck (复核)",
    responses={
        **_ERRORS,
        409: {"description": "No answer yet, the 30-day period is over, or the matter is final"},
    },
)
def request_review(
    code: str, body: ReviewCreate, session: SessionDep, state: StateDep, relay: RelayDep, guard: GuardDep
) -> ReviewRead:
    """A review within 30 days of the reply, then a recheck within 30 days of its answer (Art. 35-36)."""
    review = guard.run(
        lambda: service.request_review(
            session, code=code, data=body, now=state.clock(), calendar=state.calendar
        )
    )
    relay.notify()
    return review
