"""The tracking endpoints' rate limits: sliding windows per address, and who the client is."""

import pytest
from starlette.requests import Request

from intake.tracking.rate_limit import (
    RateLimited,
    SlidingWindow,
    TrackingLimiter,
    client_address,
    parse_proxies,
)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_admits_its_limit_then_says_when_the_oldest_event_expires() -> None:
    window = SlidingWindow(3, 60.0)
    for t in (0.0, 10.0, 20.0):
        assert window.retry_after("a", t) is None
        window.record("a", t)
    assert window.retry_after("a", 30.0) == pytest.approx(30.0)  # the event at 0 leaves at 60
    assert window.retry_after("b", 30.0) is None  # other addresses are not affected
    assert window.retry_after("a", 60.0) is None  # it slid: the first event is out
    window.record("a", 60.0)
    assert window.retry_after("a", 61.0) == pytest.approx(9.0)  # now the event at 10 is oldest


def test_a_window_forgets_idle_addresses_and_stays_bounded() -> None:
    window = SlidingWindow(1, 60.0, max_keys=3)
    for i, t in enumerate((0.0, 1.0, 2.0)):
        window.record(f"10.0.0.{i}", t)
    window.record("10.0.0.9", 100.0)  # all three expired: swept
    assert len(window) == 1
    for i in range(5):
        window.record(f"10.0.1.{i}", 101.0)
    assert len(window) <= 3


def test_the_limiter_answers_429_with_retry_after_over_the_request_rate() -> None:
    clock = Clock()
    limiter = TrackingLimiter(per_minute=2, failed_per_hour=5, clock=clock)
    limiter.admit("1.2.3.4")
    limiter.admit("1.2.3.4")
    with pytest.raises(RateLimited) as limited:
        limiter.admit("1.2.3.4")
    assert limited.value.status_code == 429
    assert limited.value.headers == {"Retry-After": "60"}
    limiter.admit("5.6.7.8")
    clock.now += 60
    limiter.admit("1.2.3.4")


def test_failed_lookups_lock_an_address_out_for_the_hour() -> None:
    clock = Clock()
    limiter = TrackingLimiter(per_minute=1000, failed_per_hour=3, clock=clock)
    for _ in range(3):
        limiter.admit("1.2.3.4")
        limiter.failed("1.2.3.4")
        clock.now += 10
    with pytest.raises(RateLimited, match="matched no case") as limited:
        limiter.admit("1.2.3.4")
    assert limited.value.headers == {"Retry-After": str(3600 - 30)}
    limiter.admit("5.6.7.8")
    clock.now += 3600 - 30
    limiter.admit("1.2.3.4")


def request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    assert client_address(request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"
    proxies = parse_proxies(" 10.0.0.1, 10.0.0.2 ,")
    assert proxies == {"10.0.0.1", "10.0.0.2"}
    assert client_address(request("203.0.113.9", "198.51.100.1"), proxies) == "203.0.113.9"
    # Behind two trusted proxies: the last untrusted hop is the client; what it claimed is not.
    spoofed = "1.1.1.1, 198.51.100.7, 10.0.0.2"
    assert client_address(request("10.0.0.1", spoofed), proxies) == "198.51.100.7"
    assert client_address(request("10.0.0.1"), proxies) == "10.0.0.1"
