"""Load generator: registers petitions with real texts at a set rate or as fast as possible.

    make up                                          # in one shell, or let the script start a suite:
    .venv/bin/python bench/load.py --own-suite --rate 300 --duration 60 --assigned
    .venv/bin/python bench/load.py --own-suite --connections 32 --count 20000      # as fast as possible
    .venv/bin/python bench/load.py --rate 100 --duration 60 --act 0.5              # on `make up`

Each petition is one real message from ../shared/data/complaints (XINFANG_COMPLAINTS_DATA) with
its first-level category, a district of the demo tree and a fake petitioner. With --rate the load
is open-loop: request i is due at i/rate whatever happened to the others, and its latency counts
from that instant (so a stalled server is not hidden by fewer requests). Without --rate,
--connections clients send back to back. --assigned reads xinfang.case.assigned.v1 (in a process of
its own) and reports intake-to-assigned latency: from the instant the POST was due until the
CaseAssigned event was read. --act F makes the assigned unit accept and reply to a share F of the
cases (handler tokens of that unit), as units would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from benchlib import (
    BenchSuite,
    PetitionSource,
    Seen,
    TopicWatcher,
    latency_figures,
    latency_line,
    load_complaints,
    machine_line,
    write_json,
)

from xinfang_common.topics import CASE_ASSIGNED


@dataclass
class Outcome:
    """One request: when it was due and sent, when it ended (wall clock), how."""

    due: float
    sent: float
    done: float
    status: int | None
    case_id: str | None = None
    error: str | None = None
    retry_after: str | None = None


@dataclass
class LoadResult:
    """Everything a run produced."""

    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def acked(self) -> list[Outcome]:
        """Requests answered 201."""
        return [o for o in self.outcomes if o.status == 201]

    def errors(self) -> Counter[str]:
        """Failures by status code or exception name."""
        return Counter(o.error or str(o.status) for o in self.outcomes if o.status != 201)

    def throughput(self) -> float:
        """201 answers per second between the first send and the last answer."""
        acked = self.acked
        if not acked:
            return 0.0
        span = max(o.done for o in acked) - min(o.sent for o in self.outcomes)
        return len(acked) / span if span > 0 else float("nan")

    def generator_cpu_share(self) -> float:
        """Share of one core the generator's process used during the run."""
        return self.cpu_seconds / max(self.ended - self.started, 1e-9)

    def figures(self) -> dict[str, Any]:
        """The run's figures for a JSON results file."""
        acked = self.acked
        return {
            "sent": len(self.outcomes),
            "acknowledged": len(acked),
            "errors": dict(self.errors()),
            "throughput_per_s": round(self.throughput(), 2),
            "seconds": round(self.ended - self.started, 2),
            "generator_cpu_share": round(self.generator_cpu_share(), 3),
            "latency_from_due": latency_figures([o.done - o.due for o in acked]),
            "latency_from_send": latency_figures([o.done - o.sent for o in acked]),
        }

    def report(self, name: str = "intake POST /v1/petitions") -> list[str]:
        """Lines for the log."""
        acked = self.acked
        lines = [
            f"{name}: sent {len(self.outcomes)}, acknowledged (201) {len(acked)}, "
            f"errors {dict(self.errors()) or 0}, throughput {self.throughput():.0f}/s "
            f"over {self.ended - self.started:.1f} s (the generator used "
            f"{100 * self.generator_cpu_share():.0f}% of a core)",
            latency_line("  latency from due instant", [o.done - o.due for o in acked]),
            latency_line("  latency from send", [o.done - o.sent for o in acked]),
        ]
        return lines


async def run_load(
    url: str,
    bodies: Iterator[dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    rate: float | None = None,
    count: int | None = None,
    duration: float | None = None,
    connections: int = 16,
    request_timeout: float = 30.0,
    on_answer: Callable[[Outcome], None] | None = None,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """POST ``bodies`` to ``url``: open-loop at ``rate``/s, or closed-loop with ``connections`` clients.

    Ends after ``count`` requests, ``duration`` seconds or when ``stop`` is set, whichever first.
    A refused connection or a timeout is an outcome with ``error`` set; the run goes on.
    """
    if count is None and duration is None and stop is None:
        raise ValueError("give count, duration or stop")
    result = LoadResult()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    client_timeout = httpx.Timeout(request_timeout, pool=None)
    result.started = time.time()
    cpu_start = time.process_time()
    deadline = result.started + duration if duration else float("inf")
    issued = 0

    def more() -> bool:
        return (
            (count is None or issued < count)
            and time.time() < deadline
            and (stop is None or not stop.is_set())
        )

    async with httpx.AsyncClient(limits=limits, timeout=client_timeout, headers=headers) as client:
        # In-flight requests are capped here, not in httpx's pool: a request queued in the pool
        # costs the generator CPU on every pool event, which skews an overloaded run.
        slots = asyncio.Semaphore(connections)

        async def one(body: dict[str, Any], due: float) -> None:
            async with slots:
                await send(body, due)

        async def send(body: dict[str, Any], due: float) -> None:
            sent = time.time()
            try:
                response = await client.post(
                    url,
                    content=json.dumps(body, ensure_ascii=False).encode(),
                    headers={"Content-Type": "application/json"},
                )
                done = time.time()
                case_id = response.json().get("id") if response.status_code == 201 else None
                outcome = Outcome(
                    due,
                    sent,
                    done,
                    response.status_code,
                    case_id,
                    retry_after=response.headers.get("retry-after"),
                )
            except (httpx.HTTPError, ValueError) as exc:
                outcome = Outcome(due, sent, time.time(), None, error=type(exc).__name__)
            result.outcomes.append(outcome)
            if on_answer is not None:
                on_answer(outcome)

        if rate:
            tasks: set[asyncio.Task[None]] = set()
            start = time.time()
            while more():
                due = start + issued / rate
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(next(bodies), due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                issued += 1
            if tasks:
                await asyncio.wait(tasks)
        else:

            async def worker() -> None:
                nonlocal issued
                while more():
                    issued += 1
                    await one(next(bodies), time.time())

            await asyncio.gather(*(worker() for _ in range(connections)))
    result.ended = time.time()
    result.cpu_seconds = time.process_time() - cpu_start
    return result


class UnitActor:
    """Accepts and replies to assigned cases as the assigned unit would (handler token of that unit)."""

    def __init__(self, base: str, token_for: Callable[[str], str], share: float, seed: int = 8) -> None:
        self._base = base
        self._token_for = token_for
        self._share = share
        self._rng = random.Random(seed)
        self._tokens: dict[str, str] = {}
        self.statuses: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> UnitActor:
        self._client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=4))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks)
        assert self._client is not None
        await self._client.aclose()

    def assigned(self, seen: Seen) -> None:
        """Called in the event loop for each CaseAssigned read: maybe act on it."""
        if seen.unit is None or self._rng.random() >= self._share:
            return
        task = asyncio.create_task(self._act(seen.key, seen.unit))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, case_id: str, unit: str) -> None:
        assert self._client is not None
        if unit not in self._tokens:
            self._tokens[unit] = self._token_for(unit)
        headers = {"Authorization": f"Bearer {self._tokens[unit]}"}
        url = f"{self._base}/v1/petitions/{case_id}/actions"
        bodies = [
            {"action": "accept"},
            {"action": "reply", "opinion": "经核查，已依法处理并书面答复信访人。", "outcome": "supported"},
        ]
        for body in bodies:
            # Intake learns of the assignment from the same topic a little after we read it:
            # until then the unit does not see the case (404) or may not act yet (409).
            give_up = time.monotonic() + 30
            while True:
                try:
                    response = await self._client.post(url, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    self.statuses[f"{body['action']} {type(exc).__name__}"] += 1
                    return
                if response.status_code not in (404, 409) or time.monotonic() > give_up:
                    break
                await asyncio.sleep(0.2)
            self.statuses[f"{body['action']} {response.status_code}"] += 1


async def _main_async(args: argparse.Namespace, suite: BenchSuite) -> int:
    source = PetitionSource(load_complaints(args.data), seed=args.seed, with_category=not args.no_category)
    url = f"{suite.urls['intake']}/v1/petitions"
    headers = {"Authorization": f"Bearer {suite.admin_token()}"}
    # Warm up: connections, the ORM's compiled statements, the relay's producer.
    await run_load(url, source, headers=headers, count=args.warmup, connections=min(4, args.connections))

    watcher: TopicWatcher | None = None
    actor: UnitActor | None = None
    stack = contextlib.AsyncExitStack()
    async with stack:
        if args.assigned or args.act:
            watcher = stack.enter_context(TopicWatcher(suite.bootstrap, CASE_ASSIGNED.name))
        if args.act:
            actor = await stack.enter_async_context(
                UnitActor(suite.urls["intake"], lambda unit: suite.token(unit, "handler"), args.act)
            )
            loop = asyncio.get_running_loop()
            act = actor.assigned
            assert watcher is not None
            watcher.on_message(lambda seen: loop.call_soon_threadsafe(act, seen))
        result = await run_load(
            url,
            source,
            headers=headers,
            rate=args.rate,
            count=args.count,
            duration=args.duration,
            connections=args.connections,
        )
        for line in result.report():
            print(line)
        figures: dict[str, Any] = {
            "script": "load.py",
            "machine": machine_line(),
            "own_suite": args.own_suite,
            "rate_asked_per_s": args.rate,
            "connections": args.connections,
            "duration_asked_s": args.duration,
            "count_asked": args.count,
            "intake": result.figures(),
        }
        if watcher is not None:
            acked = {o.case_id: o for o in result.acked if o.case_id}
            complete = await asyncio.to_thread(watcher.wait_for, set(acked), args.settle)
            latencies = []
            for case_id, outcome in acked.items():
                messages = watcher.by_key.get(case_id)
                if messages:
                    latencies.append(min(m.at for m in messages) - outcome.due)
            print(
                f"case.assigned read for {len(latencies)} of {len(acked)} acknowledged cases"
                + ("" if complete else f" (gave up after {args.settle:.0f} s)")
            )
            print(latency_line("intake-to-assigned (POST due -> CaseAssigned read)", latencies))
            figures["assigned"] = {
                "read": len(latencies),
                "acknowledged": len(acked),
                "complete": complete,
                "settle_s": args.settle,
                "latency_from_due": latency_figures(latencies),
            }
    if actor is not None:
        print(f"unit actions: {dict(actor.statuses)}")
        figures["unit_actions"] = dict(actor.statuses)
    write_json(args.json, figures)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--own-suite", action="store_true", help="start a broker and the suite of our own")
    parser.add_argument(
        "--rate", type=float, help="petitions per second (open loop); none: as fast as possible"
    )
    parser.add_argument("--count", type=int, help="petitions to send")
    parser.add_argument("--duration", type=float, help="seconds to send for")
    parser.add_argument("--connections", type=int, default=16, help="concurrent HTTP connections")
    parser.add_argument("--warmup", type=int, default=50, help="petitions sent first and not counted")
    parser.add_argument("--assigned", action="store_true", help="measure intake-to-assigned latency")
    parser.add_argument("--act", type=float, default=0.0, help="share of assigned cases the unit answers")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for assignments")
    parser.add_argument("--no-category", action="store_true", help="let routing classify the text")
    parser.add_argument("--data", help="complaints folder (default ../shared/data/complaints)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    if args.count is None and args.duration is None:
        args.duration = 30.0
    print(machine_line())
    with BenchSuite(own=args.own_suite) as suite:
        return asyncio.run(_main_async(args, suite))


if __name__ == "__main__":
    sys.exit(main())
