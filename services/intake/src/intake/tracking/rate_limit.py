"""In-process sliding-window rate limits on the tracking endpoints, so codes cannot be guessed.

A tracking code carries 80 random bits: at the default 20 failed lookups per address per hour,
a million addresses guessing together would need about 3 * 10^12 years on average to hit one
given code, and about 300,000 years to hit any of ten million cases.
The windows live in this process's memory: with N replicas behind a load balancer an address
gets up to N times the limits (still infeasible for guessing), and a restart forgets them. A
shared store (Redis, say) can replace this class later without changing the endpoints.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from fastapi import Request

from xinfang_common.errors import ServiceError

MAX_TRACKED_ADDRESSES = 100_000
"""Addresses remembered per window; beyond it the least recently added are forgotten (bounded memory)."""


class RateLimited(ServiceError):
    """Too many tracking requests (or failed lookups) from this address; retry after a while."""

    status_code = 429


class SlidingWindow:
    """At most ``limit`` events per key within any ``window_seconds``; not thread-safe by itself."""

    def __init__(self, limit: int, window_seconds: float, *, max_keys: int = MAX_TRACKED_ADDRESSES) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_seconds:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may have another event, or None when it may now."""
        events = self._recent(key, now)
        if events is None or len(events) < self.limit:
            return None
        return events[-self.limit] + self.window_seconds - now

    def record(self, key: str, now: float) -> None:
        """Count an event of ``key`` at ``now``."""
        events = self._recent(key, now)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._evict(now)
            events = self._events[key] = deque()
        events.append(now)

    def _evict(self, now: float) -> None:
        for key in list(self._events):
            self._recent(key, now)
        # Still full: forget the addresses seen first (dicts keep insertion order).
        while len(self._events) >= self.max_keys:
            del self._events[next(iter(self._events))]

    def __len__(self) -> int:
        return len(self._events)


class TrackingLimiter:
    """The two limits on /v1/track/*: all requests per minute, failed lookups per hour, per address."""

    def __init__(
        self,
        *,
        per_minute: int,
        failed_per_hour: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = SlidingWindow(per_minute, 60.0)
        self.failures = SlidingWindow(failed_per_hour, 3600.0)
        self._clock = clock
        self._lock = threading.Lock()

    def admit(self, address: str) -> None:
        """Count a request from ``address``; raise RateLimited (429, Retry-After) when over a limit."""
        with self._lock:
            now = self._clock()
            wait = self.failures.retry_after(address, now)
            reason = "too many tracking codes that matched no case from this address"
            if wait is None:
                wait = self.requests.retry_after(address, now)
                reason = "too many tracking requests from this address"
                if wait is None:
                    self.requests.record(address, now)
                    return
        seconds = max(1, math.ceil(wait))
        raise RateLimited(f"{reason}; try again in {seconds} s", headers={"Retry-After": str(seconds)})

    def failed(self, address: str) -> None:
        """Count a lookup from ``address`` that matched no case."""
        with self._lock:
            self.failures.record(address, self._clock())


def parse_proxies(setting: str) -> frozenset[str]:
    """The trusted proxy addresses of the INTAKE_TRUSTED_PROXIES setting."""
    return frozenset(p.strip() for p in setting.split(",") if p.strip())


def client_address(request: Request, trusted_proxies: Iterable[str] = ()) -> str:
    """The address to limit: the connecting peer, or behind a trusted proxy the last untrusted hop.

    X-Forwarded-For is read right to left and only while the hop that appended it is trusted, so
    a client cannot pick its own address by sending the header itself.
    """
    peer = request.client.host if request.client else "unknown"
    trusted = frozenset(trusted_proxies)
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer
