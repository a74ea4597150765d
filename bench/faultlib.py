"""Fault scenarios: load the suite, break a part of it on schedule, then count what got through.

Used by the scripts in bench/faults/ (long variants) and by tests/faults (fast variants). Every
scenario returns a ``Tally`` per stream it checks: sent, acknowledged (201), delivered,
duplicated (one fact decided twice under different event ids) and lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from benchlib import BenchSuite, PetitionSource, Tally, TopicWatcher, load_complaints, tally_facts
from load import LoadResult, Outcome, run_load

WARMUP = 20
"""Petitions registered before each scenario's load (connections, caches), not counted in it."""


@dataclass(frozen=True)
class Fault:
    """Something done to the suite ``at`` seconds into the load (in a thread; it may block)."""

    at: float
    name: str
    action: Callable[[], object]


@dataclass
class FaultRun:
    """What a scenario saw: the load, when each fault ran, and the answers meanwhile."""

    load: LoadResult
    windows: list[tuple[str, float, float]] = field(default_factory=list)

    def answers_between(self, start: float, end: float) -> dict[str, int]:
        """Answers to requests sent between two instants, by status (or exception name)."""
        counts: dict[str, int] = {}
        for o in self.load.outcomes:
            if start <= o.sent <= end:
                key = str(o.status) if o.status is not None else str(o.error)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def acked_ids(self) -> set[str]:
        """Case ids answered 201."""
        return {o.case_id for o in self.load.acked if o.case_id}

    def report(self) -> list[str]:
        """Lines for the log: the load, and the answers during each fault."""
        lines = self.load.report()
        for name, start, end in self.windows:
            lines.append(
                f"  {name}: {end - start:.1f} s from t+{start - self.load.started:.1f} s; answers to "
                f"requests sent meanwhile: {self.answers_between(start, end) or 'none'}"
            )
        return lines


async def load_with_faults(
    suite: BenchSuite,
    faults: Sequence[Fault],
    *,
    rate: float,
    duration: float,
    connections: int = 16,
    data: str | None = None,
    on_answer: Callable[[Outcome], None] | None = None,
) -> FaultRun:
    """Register petitions at ``rate``/s for ``duration`` s while ``faults`` happen on schedule."""
    source = PetitionSource(load_complaints(data))
    url = f"{suite.urls['intake']}/v1/petitions"
    headers = {"Authorization": f"Bearer {suite.admin_token()}"}
    await run_load(url, source, headers=headers, count=WARMUP, connections=2)  # not counted
    run = FaultRun(LoadResult())

    async def inject(started: float) -> None:
        for fault in sorted(faults, key=lambda f: f.at):
            await asyncio.sleep(max(0.0, started + fault.at - time.time()))
            start = time.time()
            await asyncio.to_thread(fault.action)
            run.windows.append((fault.name, start, time.time()))

    injector = asyncio.create_task(inject(time.time()))
    run.load = await run_load(
        url,
        source,
        headers=headers,
        rate=rate,
        duration=duration,
        connections=connections,
        request_timeout=15.0,
        on_answer=on_answer,
    )
    await injector
    return run


def settle(watchers: Sequence[TopicWatcher], keys: set[str], timeout: float) -> float:
    """Wait until every watcher has read something for every key (or ``timeout``); seconds waited."""
    start = time.monotonic()
    for watcher in watchers:
        watcher.wait_for(keys, max(0.0, timeout - (time.monotonic() - start)))
    return time.monotonic() - start


def intake_view(suite: BenchSuite, case_ids: set[str], timeout: float = 120.0) -> Tally:
    """What intake itself shows: each acknowledged case stored and assigned, with one assignment in
    its timeline. Delivered = shows its unit (polled until ``timeout``, since intake applies the
    assignment from the topic a little after it is published); duplicated = two or more
    "assigned" entries in the timeline."""
    tally = Tally(acknowledged=len(case_ids))
    waiting = set(case_ids)
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    with suite.client(timeout=30) as client:
        while waiting:
            for case_id in sorted(waiting):
                response = client.get(f"{suite.urls['intake']}/v1/petitions/{case_id}")
                statuses[case_id] = response.status_code
                if response.status_code != 200:
                    continue
                body: dict[str, Any] = response.json()
                if not body.get("assigned_unit"):
                    continue
                waiting.discard(case_id)
                tally.delivered += 1
                if sum(1 for e in body.get("timeline", []) if e.get("kind") == "assigned") > 1:
                    tally.duplicated += 1
            if waiting and time.monotonic() < deadline:
                time.sleep(1)
            else:
                break
    tally.notes.extend(
        f"{case_id}: not assigned (GET answered {statuses.get(case_id)})" for case_id in sorted(waiting)
    )
    tally.lost = tally.acknowledged - tally.delivered
    return tally


def print_tally(name: str, tally: Tally, sent: int) -> None:
    """One line per checked stream."""
    tally.sent = sent
    print(f"{name}: {tally.line()}")
    for note in tally.notes[:10]:
        print(f"  {note}")


def summary_counts(suite: BenchSuite) -> dict[str, int]:
    """Reporting's registered and assigned totals."""
    with suite.client() as client:
        body = client.get(f"{suite.urls['reporting']}/v1/stats/summary").json()
    return {"registered": int(body["registered"]), "assigned": int(body["assigned"])}


def wait_for_counts(suite: BenchSuite, expected: dict[str, int], timeout: float) -> dict[str, int]:
    """Poll reporting until its totals reach ``expected`` (or ``timeout``); the last totals."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            last = summary_counts(suite)
        except (httpx.HTTPError, KeyError, ValueError):
            last = {}
        if last and all(last[k] >= v for k, v in expected.items()):
            # Give a doubled count the chance to show before we stop looking.
            time.sleep(2)
            return summary_counts(suite)
        time.sleep(0.5)
    return last


def tally_topic(name: str, watcher: TopicWatcher, run: FaultRun) -> Tally:
    """Tally one topic's events against the acknowledged cases, and print it."""
    tally = tally_facts(run.acked_ids(), watcher, len(run.load.outcomes))
    missing = sorted(o.sent - run.load.started for o in run.load.acked if o.case_id not in watcher.by_key)
    if missing:
        tally.notes.append(
            f"the {len(missing)} lost cases were sent between t+{missing[0]:.1f} s and t+{missing[-1]:.1f} s"
        )
    print_tally(name, tally, len(run.load.outcomes))
    return tally
