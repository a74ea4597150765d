"""Shared pieces of the benchmark and fault scripts: real petition texts, a private suite on its own
broker, a watcher that timestamps what lands on a topic, tokens and percentiles.

Imported by the scripts beside it (``python bench/<script>.py`` puts this folder on ``sys.path``)
and by ``tests/faults``. The complaint texts are read from ``../shared/data/complaints`` (or
``XINFANG_COMPLAINTS_DATA``) at run time and never written anywhere.
"""

from __future__ import annotations

import contextlib
import csv
import json
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from xinfang_common.auth import issue_token
from xinfang_common.devrun import DEFAULT_PORTS, Suite, dev_token_key, suite_specs, write_dev_admin_token
from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.plugin import free_port

ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "XINFANG_COMPLAINTS_DATA"
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
SERVICES = ("intake", "routing", "alerts", "reporting")

# Districts of the demo org tree (deploy/config/org-tree.demo.yaml) and two it does not list,
# which fall back to the city's units: every petition has a lawful unit.
REGIONS = ("430102", "430103", "430104", "430104", "430105", "430111")
CHANNELS = ("online", "online", "online", "letter", "visit", "phone")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
MOBILE_PREFIXES = ("138", "139", "137", "136", "150", "151", "158", "159", "186", "187", "188", "177")


# --- petition texts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Complaint:
    """One real message: a title, a body and its first-level category."""

    title: str
    content: str
    category: str


def complaints_dir(explicit: str | Path | None = None) -> Path:
    """Where the shared complaints data lives: the argument, ``XINFANG_COMPLAINTS_DATA``, or ../shared."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return ROOT.parent / "shared" / "data" / "complaints"


def _title_of(body: str) -> str:
    """A title for a body-only message: its first clause, as a registrar would write one."""
    for stop in "。！？!?；;\n":
        head = body.split(stop, 1)[0]
        if 4 <= len(head) <= 60:
            return head.strip()
    return body[:40].strip()


def load_complaints(path: str | Path | None = None) -> list[Complaint]:
    """Every labelled message (titles and bodies are separate samples), exact duplicates dropped."""
    folder = complaints_dir(path)
    seen: set[str] = set()
    found: list[Complaint] = []
    for name, column in (("train_titles.csv", "title"), ("train_bodies.csv", "body")):
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                text = (row.get(column) or "").strip()
                label = (row.get("label") or "").strip()
                if not text or not label or text in seen:
                    continue
                seen.add(text)
                title = text[:200] if column == "title" else _title_of(text)
                found.append(Complaint(title=title or text[:40], content=text[:20000], category=label))
    if not found:
        raise RuntimeError(f"no labelled messages found in {folder}")
    return found


class PetitionSource:
    """Petition bodies from the real texts, each text once per pass, shuffled; fake petitioners."""

    def __init__(self, complaints: Sequence[Complaint], *, seed: int = 8, with_category: bool = True) -> None:
        self._complaints = list(complaints)
        self._rng = random.Random(seed)
        self._with_category = with_category
        self._order: list[int] = []
        self._pass = 0
        self.issued = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        if not self._order:
            self._order = list(range(len(self._complaints)))
            self._rng.shuffle(self._order)
            self._pass += 1
        complaint = self._complaints[self._order.pop()]
        self.issued += 1
        rng = self._rng
        # A later pass repeats a text: mark it so it reads as a new letter about the same matter.
        content = complaint.content if self._pass == 1 else f"{complaint.content}（第{self._pass}次反映）"
        body: dict[str, Any] = {
            "channel": rng.choice(CHANNELS),
            "region": rng.choice(REGIONS),
            "title": complaint.title,
            "content": content[:20000],
            "petitioners": [
                {
                    "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
                    "phone": f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}",
                }
            ],
        }
        if self._with_category:
            body["category"] = complaint.category
        return body


# --- figures --------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; nan for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_line(name: str, seconds: Sequence[float]) -> str:
    """``name: n, p50/p95/p99/max in ms``."""
    if not seconds:
        return f"{name}: no samples"
    ms = [s * 1000 for s in seconds]
    return (
        f"{name}: n={len(ms)} p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"
    )


def latency_figures(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """``n`` and p50/p95/p99/max in milliseconds, for a JSON results file (None for no samples)."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def write_json(path: str | Path | None, figures: Mapping[str, Any]) -> None:
    """Write a script's figures (with the machine and load average at the end) for bench/run_all.py."""
    if not path:
        return
    record = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_average": os.getloadavg(), **figures}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def machine_line() -> str:
    """Cores, CPU model, Python and the load average: what a figure was measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    py = sys.version.split()[0]
    return (
        f"{os.cpu_count()} cores {model}, Python {py}, load average {load}, {time.strftime('%Y-%m-%d %H:%M')}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def metric_samples(text: str, name: str) -> dict[str, float]:
    """Samples of one metric family from a Prometheus text page: ``{label string: value}``."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            rest = series[len(name) :]
            if rest and rest[0] not in "{_":
                continue
            found[rest] = float(value)
    return found


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll ``check`` until it holds; seconds waited. TimeoutError naming ``what`` otherwise."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - start


# --- a suite of our own ---------------------------------------------------------------------


class Broker:
    """A single-node Kafka from deploy/local/kafka.sh on free ports, in a folder of its own."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or _free_port_pair()
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _run(self, action: str) -> None:
        args = [
            "--port",
            str(self.port),
            "--controller-port",
            str(self.port + 1),
            "--data-dir",
            str(self.data_dir),
        ]
        subprocess.run(["bash", str(KAFKA_SH), action, *args], check=True, capture_output=True, timeout=300)

    def start(self) -> None:
        """Start (or restart, keeping its data) the broker and make sure every topic exists."""
        self._run("start")
        ensure_topics(KafkaSettings(bootstrap_servers=self.bootstrap))

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 30 s)."""
        self._run("stop")


def _free_port_pair() -> int:
    for _ in range(50):
        port = free_port()
        with contextlib.ExitStack() as stack:
            import socket

            a = stack.enter_context(socket.socket())
            b = stack.enter_context(socket.socket())
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two adjacent free ports on loopback")


@dataclass
class BenchSuite:
    """The four services (or some) as separate processes, as ``make up`` runs them.

    ``own=True``: a broker and SQLite files in a temporary folder of our own, removed at the end
    (``keep=True`` keeps them). ``own=False``: the suite ``make up`` is running (var/, port 9092).
    """

    own: bool = True
    services: Sequence[str] = SERVICES
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    keep: bool = False
    workdir: Path | None = None
    broker: Broker | None = None
    suite: Suite | None = None
    urls: dict[str, str] = field(default_factory=dict)
    bootstrap: str = ""
    var_dir: Path = ROOT / "var"

    def __enter__(self) -> BenchSuite:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the broker and services (own), or find the running ones."""
        if not self.own:
            port = int(os.environ.get("XINFANG_LOCAL_KAFKA_PORT", "9092"))
            self.bootstrap = f"127.0.0.1:{port}"
            self.urls = {name: f"http://127.0.0.1:{p}" for name, p in DEFAULT_PORTS.items()}
            return
        self.workdir = Path(tempfile.mkdtemp(prefix="xinfang-bench-"))
        self.var_dir = self.workdir / "var"
        self.var_dir.mkdir()
        self.broker = Broker(self.workdir / "kafka")
        self.broker.start()
        self.bootstrap = self.broker.bootstrap
        ports = {name: free_port() for name in SERVICES}
        specs = [s for s in suite_specs(ROOT, self.var_dir, self.bootstrap, ports) if s.name in self.services]
        for spec in specs:
            spec.env.update(self.env.get(spec.name, {}))
        self.suite = Suite(specs, self.var_dir / "logs", extra_env={"XINFANG_LOG_LEVEL": "WARNING"})
        self.urls = {spec.name: spec.url for spec in specs}
        self.suite.start()
        try:
            self.suite.wait_ready(timeout=240)
        except (TimeoutError, RuntimeError):
            for name in self.urls:
                print(f"----- {name} (last lines) -----\n{self.log_tail(name)}", file=sys.stderr)
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything we started; remove the folder unless asked to keep it."""
        if not self.own:
            return
        if self.suite is not None:
            self.suite.stop()
        if self.broker is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                self.broker.stop()
        if self.workdir is not None:
            if self.keep:
                print(f"kept {self.workdir}", file=sys.stderr)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def pid(self, service: str) -> int:
        """Process id of a service we started."""
        assert self.suite is not None, "only for a suite of our own"
        return self.suite.processes[service].pid

    def kill(self, service: str) -> None:
        """kill -9 the service's process and reap it."""
        assert self.suite is not None, "only for a suite of our own"
        self.suite.stop(service, kill=True)

    def restart(self, service: str, timeout: float = 240) -> float:
        """Start a stopped service again; seconds until it answers /readyz."""
        assert self.suite is not None, "only for a suite of our own"
        started = time.monotonic()
        self.suite.start(service)
        self.suite.wait_ready(timeout=timeout)
        return time.monotonic() - started

    def log_tail(self, service: str, lines: int = 40) -> str:
        """The end of a service's log."""
        path = self.var_dir / "logs" / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def admin_token(self) -> str:
        """An admin token of the root unit the suite accepts."""
        return write_dev_admin_token(self.var_dir).read_text().strip()

    def token(self, unit: str, *roles: str, subject: str = "bench") -> str:
        """A token for ``unit`` with ``roles`` the suite accepts."""
        return issue_token(subject=subject, unit=unit, roles=roles, key=dev_token_key(self.var_dir))

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """A synchronous client carrying the admin token."""
        return httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {self.admin_token()}"})


# --- what landed on a topic -----------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One message read: its case id, event id, the unit it names, what it states, when it was read.

    ``ident`` names the fact for duplicate checks: ``<deadline_id>:v<version>`` for a deadline,
    the alert id for an alert, the stage for an assignment.
    """

    key: str
    event_id: str
    unit: str | None
    ident: str | None
    at: float


def _watch(
    bootstrap: str,
    topic: str,
    from_beginning: bool,
    out: mp.Queue[list[tuple[str, str, str | None, str | None, float]] | str],
    stop: Any,
) -> None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    if from_beginning:
        consumer.seek_to_beginning(*partitions)
    else:
        consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)  # fix the starting offsets before saying we are ready
    out.put("ready")
    try:
        while not stop.is_set():
            batch: list[tuple[str, str, str | None, str | None, float]] = []
            for records in consumer.poll(timeout_ms=100).values():
                now = time.time()
                for record in records:
                    try:
                        event = json.loads(record.value)
                        data = event.get("data") or {}
                        key = record.key.decode() if record.key else str(data.get("case_id", ""))
                        ident: str | None
                        if "deadline_id" in data:
                            ident = f"{data['deadline_id']}:v{data.get('version')}"
                        else:
                            ident = data.get("alert_id") or data.get("stage")
                        batch.append((key, str(event.get("id", "")), data.get("unit_code"), ident, now))
                    except (ValueError, AttributeError):
                        batch.append(("", "", None, None, now))
            if batch:
                out.put(batch)
    finally:
        consumer.close()


class TopicWatcher:
    """A separate process reading a topic (from its end, or its start) that notes when each
    message arrived (wall clock), so the figures are not skewed by the load generator's GIL."""

    def __init__(self, bootstrap: str, topic: str, *, from_beginning: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self._queue: mp.Queue[Any] = ctx.Queue()
        self._stop = ctx.Event()
        self._process = ctx.Process(
            target=_watch, args=(bootstrap, topic, from_beginning, self._queue, self._stop), daemon=True
        )
        self.seen: list[Seen] = []
        self.by_key: dict[str, list[Seen]] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Seen], object]] = []
        self._drain: threading.Thread | None = None

    def on_message(self, listener: Callable[[Seen], object]) -> None:
        """Call ``listener`` (in the draining thread) for every message read."""
        self._listeners.append(listener)

    def __enter__(self) -> TopicWatcher:
        self._process.start()
        if self._queue.get(timeout=60) != "ready":
            raise RuntimeError("watcher did not start")
        self._drain = threading.Thread(target=self._drain_loop, daemon=True)
        self._drain.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
        if self._drain is not None:
            self._drain.join(2)

    def _drain_loop(self) -> None:
        while self._process.is_alive() or not self._queue.empty():
            try:
                batch = self._queue.get(timeout=0.2)
            except Exception:  # noqa: BLE001 - queue.Empty from a multiprocessing queue
                continue
            for key, event_id, unit, ident, at in batch:
                seen = Seen(key, event_id, unit, ident, at)
                with self._lock:
                    self.seen.append(seen)
                    self.by_key.setdefault(key, []).append(seen)
                for listener in self._listeners:
                    listener(seen)

    def keys_seen(self, keys: set[str]) -> int:
        """How many of ``keys`` have at least one message."""
        with self._lock:
            return sum(1 for k in keys if k in self.by_key)

    def wait_for(self, keys: set[str], timeout: float) -> bool:
        """Wait until every key has a message; whether they all came in time."""
        try:
            wait_until(lambda: self.keys_seen(keys) == len(keys), timeout, "messages", interval=0.1)
        except TimeoutError:
            return False
        return True


@dataclass
class Tally:
    """Counts every fault script prints: sent, acknowledged, delivered, duplicated, lost."""

    sent: int = 0
    acknowledged: int = 0
    delivered: int = 0
    duplicated: int = 0
    lost: int = 0
    redelivered: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the log."""
        return (
            f"sent {self.sent}, acknowledged {self.acknowledged}, delivered {self.delivered}, "
            f"duplicated {self.duplicated}, lost {self.lost} "
            f"(same event redelivered, dropped by consumers: {self.redelivered})"
        )


def tally_facts(acked: set[str], watcher: TopicWatcher, sent: int) -> Tally:
    """Compare the cases intake acknowledged with the events read for them.

    Delivered: acknowledged cases with at least one event. Duplicated: a case for which one fact
    (an assignment stage, a deadline version, an alert) came under two or more different event
    ids, i.e. was decided twice. The same event id read twice is an at-least-once redelivery that
    every consumer drops by id; it is counted apart, as "redelivered".
    """
    tally = Tally(sent=sent, acknowledged=len(acked))
    for case_id in acked:
        messages = watcher.by_key.get(case_id, [])
        if messages:
            tally.delivered += 1
        ids_by_fact: dict[str | None, set[str]] = {}
        for m in messages:
            ids_by_fact.setdefault(m.ident, set()).add(m.event_id)
        if any(len(ids) > 1 for ids in ids_by_fact.values()):
            tally.duplicated += 1
        tally.redelivered += len(messages) - len({m.event_id for m in messages})
    tally.lost = tally.acknowledged - tally.delivered
    return tally
