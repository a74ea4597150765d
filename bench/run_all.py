"""Every benchmark of the results table, one after another on one machine, in one run.

    .venv/bin/python bench/run_all.py                                  # the full run (hours)
    .venv/bin/python bench/run_all.py --quick                          # small sizes: try the harness
    .venv/bin/python bench/run_all.py --database-url postgresql+psycopg://user@host/db --rocksdb
    .venv/bin/python bench/run_all.py --only kpi --only alert_lag      # some steps only

Steps, each in a subprocess of its own, in this order (names for --only / --skip, or 1-6):

1. ceilings       bench/ceilings.py: bare FastAPI (sync, async) as fast as possible, and a bare
                  Kafka produce -> consume round trip at 300/s;
2. intake         bench/load.py --own-suite: durable registrations as fast as possible (SQLite);
3. assigned       bench/load.py --own-suite --rate 300 --assigned: intake-to-assigned latency, and
                  the rate intake actually sustained;
4. alert_lag      bench/alert_lag.py: alert lag after a due instant (1,000 cases at one instant);
5. kpi            bench/kpi_query.py over 1,000,000 synthetic cases, SQLite, and PostgreSQL when
                  --database-url is given (that database is emptied first and at the end);
6. alerts_memory  bench/alerts_memory.py with 1,000,000 open deadlines, memory store (and RocksDB
                  with --rocksdb).

Each script writes its figures with --json; a step that fails or times out is recorded in the
table and the run goes on. Written to --out (default var/bench/run-<date>-<time>): results.md
(the table, also printed at the end), results.json (every figure, the machine, each step's start,
end and load average at its start) and logs/<step>.log (each script's own output).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"

GROUPS = ("ceilings", "intake", "assigned", "alert_lag", "kpi", "alerts_memory")

# Goals of the suite (docs): the rows without one say "—".
GOAL_THROUGHPUT = 1000.0  # durable petitions per second
GOAL_INTAKE_P99_MS = 100.0
GOAL_ASSIGNED_RATE = 300.0
GOAL_ASSIGNED_P99_MS = 500.0
GOAL_KPI_P95_MS = 200.0
# An open-loop run counts as "at 300/s" if intake answered at least this share of that rate.
SUSTAINED_SHARE = 0.95


@dataclass(frozen=True)
class Sizes:
    """How big each step is: the full run, or --quick to try the harness."""

    load_seconds: float
    connections: int
    ceiling_seconds: float
    alert_cases: int
    alert_scan_interval: float
    alert_lead: float
    kpi_cases: int
    kpi_repeat: int
    memory_cases: int
    memory_watch: float
    timeout_scale: float


FULL = Sizes(
    load_seconds=60,
    connections=32,
    ceiling_seconds=30,
    alert_cases=1000,
    alert_scan_interval=30,
    alert_lead=180,
    kpi_cases=1_000_000,
    kpi_repeat=20,
    memory_cases=1_000_000,
    memory_watch=90,
    timeout_scale=1.0,
)
QUICK = Sizes(
    load_seconds=10,
    connections=32,
    ceiling_seconds=10,
    alert_cases=100,
    alert_scan_interval=5,
    alert_lead=60,
    kpi_cases=10_000,
    kpi_repeat=5,
    memory_cases=10_000,
    memory_watch=10,
    timeout_scale=0.25,
)


@dataclass
class Step:
    """One script run: its name in the results, the group --only/--skip know it by, its arguments."""

    name: str
    group: str
    title: str
    args: list[str]
    timeout: float
    status: str = "not run"
    returncode: int | None = None
    started: str | None = None
    ended: str | None = None
    seconds: float | None = None
    load_average: list[float] = field(default_factory=list)
    figures: dict[str, Any] | None = None
    error: str | None = None

    def command(self) -> str:
        """The script's command line, without the --json path run_all adds."""
        args = [_hide_password(a) for a in self.args]
        if "--json" in args:
            at = args.index("--json")
            del args[at : at + 2]
        return " ".join(["python", *args])

    def record(self) -> dict[str, Any]:
        """What results.json holds of the step."""
        return {
            "name": self.name,
            "group": self.group,
            "title": self.title,
            "command": self.command(),
            "status": self.status,
            "returncode": self.returncode,
            "started": self.started,
            "ended": self.ended,
            "seconds": self.seconds,
            "load_average_at_start": self.load_average,
            "error": self.error,
            "figures": self.figures,
        }


def _hide_password(text: str) -> str:
    """A database URL without its password (``user:***@``); any other text as it is."""
    return re.sub(r"^([a-z0-9+]+://[^:/@]+):.*@", r"\1:***@", text)


def plan(args: argparse.Namespace, sizes: Sizes, raw: Path) -> list[Step]:
    """The steps of this run, in order, with each script's arguments."""
    data = ["--data", args.data] if args.data else []
    scale = sizes.timeout_scale
    load_s = str(sizes.load_seconds)
    conns = str(sizes.connections)

    def out(name: str) -> list[str]:
        return ["--json", str(raw / f"{name}.json")]

    steps = [
        Step(
            "ceilings",
            "ceilings",
            "bare FastAPI and Kafka round trip",
            [
                "bench/ceilings.py",
                "--duration",
                str(sizes.ceiling_seconds),
                "--connections",
                conns,
                "--rate",
                f"{GOAL_ASSIGNED_RATE:g}",
                *data,
                *out("ceilings"),
            ],
            timeout=max(900 * scale, 600),
        ),
        Step(
            "intake",
            "intake",
            "intake durable throughput",
            [
                "bench/load.py",
                "--own-suite",
                "--connections",
                conns,
                "--duration",
                load_s,
                *data,
                *out("intake"),
            ],
            timeout=max(1200 * scale, 600),
        ),
        Step(
            "assigned",
            "assigned",
            "intake-to-assigned at 300/s",
            [
                "bench/load.py",
                "--own-suite",
                "--rate",
                f"{GOAL_ASSIGNED_RATE:g}",
                "--duration",
                load_s,
                "--assigned",
                *data,
                *out("assigned"),
            ],
            timeout=max(1800 * scale, 900),
        ),
        Step(
            "alert_lag",
            "alert_lag",
            "alert lag after a due instant",
            [
                "bench/alert_lag.py",
                "--cases",
                str(sizes.alert_cases),
                "--scan-interval",
                str(sizes.alert_scan_interval),
                "--lead",
                str(sizes.alert_lead),
                *data,
                *out("alert_lag"),
            ],
            timeout=max(3600 * scale, 900),
        ),
        Step(
            "kpi_sqlite",
            "kpi",
            "KPI query, SQLite",
            [
                "bench/kpi_query.py",
                "--cases",
                str(sizes.kpi_cases),
                "--repeat",
                str(sizes.kpi_repeat),
                *out("kpi_sqlite"),
            ],
            timeout=max(4 * 3600 * scale, 900),
        ),
    ]
    if args.database_url:
        steps.append(
            Step(
                "kpi_postgresql",
                "kpi",
                "KPI query, PostgreSQL",
                [
                    "bench/kpi_query.py",
                    "--cases",
                    str(sizes.kpi_cases),
                    "--repeat",
                    str(sizes.kpi_repeat),
                    "--database-url",
                    args.database_url,
                    *out("kpi_postgresql"),
                ],
                timeout=max(4 * 3600 * scale, 900),
            )
        )
    stores = ["memory", "rocksdb"] if args.rocksdb else ["memory"]
    for store in stores:
        steps.append(
            Step(
                f"alerts_memory_{store}",
                "alerts_memory",
                f"alerts RSS and recovery, {store} store",
                [
                    "bench/alerts_memory.py",
                    "--cases",
                    str(sizes.memory_cases),
                    "--store",
                    store,
                    "--watch",
                    str(sizes.memory_watch),
                    *out(f"alerts_memory_{store}"),
                ],
                timeout=max(4 * 3600 * scale, 900),
            )
        )
    return steps


def selected(steps: list[Step], only: Sequence[str], skip: Sequence[str]) -> list[Step]:
    """Mark the steps --only/--skip leave out as skipped; the ones to run."""

    def group_of(name: str) -> str:
        if name.isdigit() and 1 <= int(name) <= len(GROUPS):
            return GROUPS[int(name) - 1]
        if name in GROUPS:
            return name
        raise SystemExit(f"unknown step {name!r}: one of {', '.join(GROUPS)} (or 1-{len(GROUPS)})")

    only_groups = {group_of(n) for item in only for n in item.split(",") if n}
    skip_groups = {group_of(n) for item in skip for n in item.split(",") if n}
    chosen = []
    for step in steps:
        if (only_groups and step.group not in only_groups) or step.group in skip_groups:
            step.status = "skipped"
        else:
            chosen.append(step)
    return chosen


# --- running --------------------------------------------------------------------------------


def now_iso() -> str:
    """Local time with its offset, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def run_step(step: Step, env: dict[str, str], log_path: Path, json_path: Path) -> None:
    """Run one script; tee its output to the log and the console; read its JSON figures."""
    step.load_average = [round(x, 2) for x in os.getloadavg()]
    step.started = now_iso()
    json_path.unlink(missing_ok=True)
    print(
        f"\n=== {step.name}: {step.title} ({step.started}, load average "
        f"{', '.join(f'{x:.2f}' for x in step.load_average)})\n    python {' '.join(step.args)}",
        flush=True,
    )
    start = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, *step.args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        tee = threading.Thread(target=_tee, args=(process, log, step.name), daemon=True)
        tee.start()
        timed_out = False
        try:
            process.wait(step.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _interrupt(process)
        except KeyboardInterrupt:
            _interrupt(process)
            raise
        tee.join(10)
    step.seconds = round(time.monotonic() - start, 1)
    step.ended = now_iso()
    step.returncode = process.returncode
    if json_path.exists():
        with contextlib.suppress(ValueError):
            step.figures = json.loads(json_path.read_text(encoding="utf-8"))
    if timed_out:
        step.status = "timeout"
        step.error = f"no result within {step.timeout:.0f} s; interrupted"
    elif process.returncode != 0:
        step.status = "failed"
        step.error = f"exit status {process.returncode}: {_last_error(log_path)}"
    elif step.figures is None:
        step.status = "failed"
        step.error = "exited 0 but wrote no figures"
    else:
        step.status = "ok"
    print(f"=== {step.name}: {step.status} in {step.seconds:.0f} s", flush=True)


def _tee(process: subprocess.Popen[str], log: Any, name: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        log.write(line)
        log.flush()
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()


def _interrupt(process: subprocess.Popen[str]) -> None:
    """Ctrl-C for the script (its with-blocks stop the suite and broker it started), then kill."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(120)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def _last_error(log_path: Path) -> str:
    """The last line of a traceback (or of the log), for the table."""
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]+(Error|Exception|Exit|Interrupt|Timeout)\b", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# --- the machine ----------------------------------------------------------------------------


def machine(database_url: str) -> dict[str, Any]:
    """CPU, cores, memory, Python and the versions of Kafka, SQLite and PostgreSQL used."""
    model = ""
    memory_gib: float | None = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgresql_version(database_url),
    }


def kafka_version() -> str:
    """The version deploy/local/kafka.sh runs (XINFANG_KAFKA_VERSION or the script's default)."""
    if os.environ.get("XINFANG_KAFKA_VERSION"):
        return os.environ["XINFANG_KAFKA_VERSION"]
    with contextlib.suppress(OSError):
        found = re.search(r'KAFKA_VERSION="\$\{XINFANG_KAFKA_VERSION:-([^}]+)\}"', KAFKA_SH.read_text())
        if found:
            return found.group(1)
    return "unknown"


def postgresql_version(database_url: str) -> str:
    """The server's version when --database-url is given, else "not used"."""
    if not database_url:
        return "not used"
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                return str(conn.execute(text("SHOW server_version")).scalar())
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported, not fatal here
        return f"unreachable ({type(exc).__name__})"


# --- the table ------------------------------------------------------------------------------


def _n(value: float | None, digits: int = 0) -> str:
    """A figure with thousands separators; "n/a" for none."""
    if value is None or value != value:  # None or nan
        return "n/a"
    return f"{value:,.{digits}f}"


def _ms3(lat: dict[str, Any] | None) -> str:
    """p50 / p95 / p99 ms of a latency_figures dict."""
    if not lat or not lat.get("n"):
        return "no samples"
    keys = ("p50_ms", "p95_ms", "p99_ms")
    if lat["p50_ms"] >= 10_000:  # queueing, not service time: seconds read better
        return " / ".join(_n(lat[k] / 1000, 1) for k in keys) + " s"
    return " / ".join(_n(lat[k], 1 if lat[k] < 100 else 0) for k in keys) + " ms"


def _met(ok: bool | None, note: str = "") -> str:
    if ok is None:
        return "—"
    return ("**met**" if ok else "**not met**") + (f" ({note})" if note else "")


def _when(step: Step) -> str:
    load = step.load_average[0] if step.load_average else None
    start = (step.started or "")[11:16]
    return f"{start}, load average {_n(load, 2)}"


def _unavailable(step: Step | None) -> str | None:
    """Why a step has no figures ("skipped", "failed: ..."), or None if it has them."""
    if step is None:
        return "not in this run"
    if step.status == "ok" and step.figures is not None:
        return None
    if step.status in ("skipped", "not run"):
        return step.status
    return f"**{step.status}**: {step.error} (see logs/{step.name}.log)"


Row = tuple[str, str, str, str, str]


def rows(steps: dict[str, Step]) -> list[Row]:
    """(figure, measured, ceiling, goal, met) for every row of the results table."""
    out: list[Row] = []
    ceil = steps.get("ceilings")
    ceil_missing = _unavailable(ceil)
    cf = (ceil.figures if ceil else None) or {}
    fastapi = cf.get("fastapi") or {}
    kafka = cf.get("kafka")

    def fastapi_rate() -> str:
        if ceil_missing:
            return ceil_missing
        if not fastapi or ceil is None:
            return "n/a"
        share = max((v.get("generator_cpu_share") or 0) for v in fastapi.values())
        rates = ", ".join(f"{_n(v['throughput_per_s'])}/s {k}" for k, v in fastapi.items())
        return (
            f"bare FastAPI: {rates} ({_when(ceil)}; the generator used up to {100 * share:.0f} % of a core)"
        )

    def fastapi_latency() -> str:
        if ceil_missing:
            return ceil_missing
        return "bare FastAPI: " + "; ".join(
            f"{k} {_ms3(v.get('latency_from_due'))}" for k, v in fastapi.items()
        )

    # 2. intake as fast as possible
    intake = steps.get("intake")
    missing = _unavailable(intake)
    if missing or intake is None or intake.figures is None:
        out.append(("intake durable throughput (SQLite)", missing or "n/a", fastapi_rate(), "≥ 1,000/s", "—"))
        out.append(
            ("intake POST latency p50 / p95 / p99", missing or "n/a", fastapi_latency(), "p99 ≤ 100 ms", "—")
        )
    else:
        f = intake.figures
        i = f["intake"]
        rate = i["throughput_per_s"]
        p99 = (i["latency_from_due"] or {}).get("p99_ms")
        errors = sum(i["errors"].values()) if i["errors"] else 0
        title = (
            f"intake durable throughput (as fast as possible, {f['connections']} connections, "
            f"{_n(f['duration_asked_s'])} s, SQLite)"
        )
        measured = (
            f"**{_n(rate)}/s** ({_n(i['acknowledged'])} answered 201, {_n(errors)} errors; {_when(intake)}; "
            f"the generator used {100 * i['generator_cpu_share']:.0f} % of a core)"
        )
        out.append((title, measured, fastapi_rate(), "≥ 1,000/s", _met(rate >= GOAL_THROUGHPUT)))
        out.append(
            (
                "intake POST latency p50 / p95 / p99 at that load",
                _ms3(i["latency_from_due"]),
                fastapi_latency(),
                "p99 ≤ 100 ms",
                _met(None if p99 is None else p99 <= GOAL_INTAKE_P99_MS),
            )
        )

    # 3. intake-to-assigned at 300/s
    assigned = steps.get("assigned")
    missing = _unavailable(assigned)
    if ceil_missing:
        kafka_ceiling = ceil_missing
    elif kafka:
        kafka_ceiling = (
            f"Kafka produce → consume at {_n(kafka['rate_per_s'])}/s (acks=all): {_ms3(kafka['roundtrip'])}"
        )
    else:
        kafka_ceiling = "n/a"
    title = f"intake-to-assigned p50 / p95 / p99 at {_n(GOAL_ASSIGNED_RATE)}/s"
    if missing or assigned is None or assigned.figures is None:
        out.append((title, missing or "n/a", kafka_ceiling, "p99 ≤ 500 ms", "—"))
    else:
        f = assigned.figures
        i, a = f["intake"], f.get("assigned") or {}
        lat = a.get("latency_from_due") or {}
        sustained = i["throughput_per_s"]
        rate_ok = sustained >= SUSTAINED_SHARE * GOAL_ASSIGNED_RATE
        all_read = a.get("read") == a.get("acknowledged") and bool(a.get("read"))
        p99 = lat.get("p99_ms")
        measured = (
            f"**{_ms3(lat)}** from the due instant (intake sustained **{_n(sustained)}/s** of the "
            f"{_n(GOAL_ASSIGNED_RATE)}/s asked; assignment read for {_n(a.get('read'))} of "
            f"{_n(a.get('acknowledged'))} acknowledged; POST latency from send "
            f"{_ms3(i['latency_from_send'])}; {_when(assigned)})"
        )
        if p99 is None:
            met = _met(None)
        elif not rate_ok:
            met = _met(False, f"intake sustained {_n(sustained)}/s, not {_n(GOAL_ASSIGNED_RATE)}/s")
        elif not all_read:
            met = _met(False, "not every acknowledged case was assigned in time")
        else:
            met = _met(p99 <= GOAL_ASSIGNED_P99_MS)
        out.append((title, measured, kafka_ceiling, "p99 ≤ 500 ms at 300/s", met))

    # 4. alert lag
    lag = steps.get("alert_lag")
    missing = _unavailable(lag)
    if missing or lag is None or lag.figures is None:
        out.append(("alert lag after a due instant", missing or "n/a", "scan interval", "—", "—"))
    else:
        f = lag.figures
        lat = f["lag"]
        margin = f.get("earlier_tiers_margin_s")
        warn = (
            ""
            if margin is None or margin >= 0
            else f"; **the earlier tiers ran {-margin:.0f} s past the instant**"
        )
        seconds = " / ".join(
            _n((lat.get(k) or 0) / 1000, 1) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
        )
        out.append(
            (
                f"alert lag after a due instant ({_n(f['at_one_instant'])} cases at one instant), "
                "p50 / p95 / p99 / max",
                f"**{seconds} s** ({_n(f['overdue_alerts_read'])} overdue alerts read, the first "
                f"{_n(f.get('first_s'), 1)} s after the instant; {_when(lag)}{warn})",
                f"scan interval {_n(f['scan_interval_s'])} s (`ALERTS_SCAN_INTERVAL_SECONDS`)",
                "—",
                "—",
            )
        )

    # 5. KPI query
    for name, label in (("kpi_sqlite", "SQLite"), ("kpi_postgresql", "PostgreSQL")):
        kpi = steps.get(name)
        if kpi is None:
            continue
        missing = _unavailable(kpi)
        if missing or kpi.figures is None:
            out.append((f"KPI query p95, {label}", missing or "n/a", "—", "p95 < 200 ms", "—"))
            continue
        f = kpi.figures
        combos = f["combinations"]
        p95s = {k: v["p95_ms"] for k, v in combos.items()}
        worst = max(p95s, key=lambda k: p95s[k])
        under = sum(1 for v in p95s.values() if v < GOAL_KPI_P95_MS)
        out.append(
            (
                f"KPI query over {_n(f['cases'])} cases, p95, {label} {f['server_version']}",
                f"**{_n(min(p95s.values()))}–{_n(max(p95s.values()))} ms** over the {len(p95s)} filter "
                f"combinations (worst: {worst}; see below; {_when(kpi)})",
                "—",
                "p95 < 200 ms",
                _met(under == len(p95s), f"{under} of {len(p95s)}"),
            )
        )

    # 6. alerts memory and recovery
    for name in ("alerts_memory_memory", "alerts_memory_rocksdb"):
        mem = steps.get(name)
        if mem is None:
            continue
        store = name.rsplit("_", 1)[1]
        missing = _unavailable(mem)
        if missing or mem.figures is None:
            out.append((f"alerts RSS and restart recovery, {store} store", missing or "n/a", "—", "—", "—"))
            continue
        f = mem.figures
        r = f["restart"]
        cases = _n(f["cases"])
        out.append(
            (
                f"alerts RSS tracking {cases} open deadlines, {store} store",
                f"**{_n(f['rss_rebuilt_mib'])} MiB** ({f['kib_per_case']:.2f} KiB per case above a "
                f"{_n(f['idle_rss_mib'])} MiB 1-case baseline; peak {_n(f['peak_rss_mib'])} MiB; "
                f"{_when(mem)})",
                "—",
                "—",
                "—",
            )
        )
        again = f.get("restart_with_local_files")
        local = (
            f"; restart keeping the local files: {_n(again['to_ready_s'], 1)} s to ready, "
            f"{_n(again['to_rebuilt_s'], 1)} s to the schedule rebuilt, "
            f"RSS {_n(again.get('rss_rebuilt_mib'))} MiB"
            if again
            else ""
        )
        out.append(
            (
                f"alerts restart recovery, {cases} cases, {store} store",
                f"**{_n(r['to_ready_s'], 1)} s** to ready (changelog read back), then "
                f"{_n(r['schedule_rebuild_s'], 1)} s to rebuild the alert schedule "
                f"({_n(r['to_rebuilt_s'], 1)} s in all){local}",
                "—",
                "—",
                "—",
            )
        )
        if f.get("scan_mean_ms") is not None:
            out.append(
                (
                    f"alerts scanner round, {cases} cases, nothing due, {store} store",
                    f"{f['scan_mean_ms']:.2f} ms (mean of {f['scan_rounds']} rounds; alerts used "
                    f"{100 * f['cpu_share_after']:.1f} % of a core over {_n(f['watch_s'])} s)",
                    "—",
                    "—",
                    "—",
                )
            )
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _label(step: Step) -> str:
    backend = str((step.figures or {}).get("backend", step.name))
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(backend, backend)


def markdown(run: dict[str, Any], steps: list[Step]) -> str:
    """results.md: machine, run, steps with their times, the results table, the KPI detail."""
    m = run["machine"]
    by_name = {s.name: s for s in steps}
    lines = [
        f"# Benchmark results, {run['date']}",
        "",
        f"Machine: {m['cores']} cores {m['cpu']} ({m['arch']}, {_n(m['memory_gib'], 1)} GiB), "
        f"Python {m['python']}, Kafka {m['kafka']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql']}",
        "",
        f"Run: `{run['command']}`, {run['started']} → {run['ended']} (one run, steps one after another; "
        "the load generator runs on the same machine as the suite)",
    ]
    if run["quick"]:
        lines += [
            "",
            "**--quick: small sizes for trying the harness; these figures are not for quoting.**",
        ]
    lines += ["", "| figure | measured | ceiling (same run) | goal | met |", "|---|---|---|---|---|"]
    for row in rows(by_name):
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    kpis = [s for s in steps if s.group == "kpi" and s.status == "ok" and s.figures]
    if kpis:
        header = "| filters | cases counted | " + " | ".join(
            f"{_label(s)} p50 ms | {_label(s)} p95 ms" for s in kpis
        )
        lines += [
            "",
            "KPI query by filter combination:",
            "",
            header + " |",
            "|---|---:|" + "---:|---:|" * len(kpis),
        ]
        first = kpis[0].figures or {}
        for combo, values in first["combinations"].items():
            cells = [combo, _n(values["cases"])]
            for s in kpis:
                c = (s.figures or {})["combinations"].get(combo, {})
                p95 = c.get("p95_ms")
                mark = f"**{_n(p95)}**" if p95 is not None and p95 >= GOAL_KPI_P95_MS else _n(p95)
                cells += [_n(c.get("p50_ms")), mark]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Steps:",
        "",
        "| step | command | start | end | s | load average at start (1, 5, 15 min) | status |",
        "|---|---|---|---|---:|---|---|",
    ]
    for s in steps:
        load = ", ".join(f"{x:.2f}" for x in s.load_average) if s.load_average else ""
        status = s.status if s.status in ("ok", "skipped", "not run") else f"**{s.status}**: {s.error}"
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    s.name,
                    f"`{s.command()}`",
                    (s.started or "")[11:19],
                    (s.ended or "")[11:19],
                    _n(s.seconds),
                    load,
                    status,
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (10 s loads, 10,000 cases): try the harness"
    )
    parser.add_argument("--only", action="append", default=[], help="run only this step (repeat, or a,b)")
    parser.add_argument("--skip", action="append", default=[], help="leave out this step (repeat, or a,b)")
    parser.add_argument(
        "--database-url",
        default="",
        help="also run the KPI step on this PostgreSQL database (emptied first and at the end)",
    )
    parser.add_argument("--rocksdb", action="store_true", help="also measure alerts with the RocksDB store")
    parser.add_argument(
        "--pause",
        type=float,
        help="seconds to wait before each step after the first, so the last one's load decays "
        "(default 60; 5 with --quick)",
    )
    parser.add_argument("--data", help="complaints folder (default: XINFANG_COMPLAINTS_DATA or ../shared)")
    parser.add_argument(
        "--out", help="folder for results.md, results.json, logs/ (default var/bench/run-<time>)"
    )
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    pause = args.pause if args.pause is not None else (5.0 if args.quick else 60.0)
    out = Path(args.out) if args.out else ROOT / "var" / "bench" / time.strftime("run-%Y%m%d-%H%M%S")
    raw, logs = out / "raw", out / "logs"
    raw.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    steps = plan(args, sizes, raw.resolve())
    to_run = selected(steps, args.only, args.skip)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    shown = [_hide_password(a) for a in (argv or sys.argv[1:])]
    run: dict[str, Any] = {
        "command": " ".join(["python", "bench/run_all.py", *shown]),
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d"),
        "started": now_iso(),
        "machine": machine(args.database_url),
        "sizes": sizes.__dict__,
        "pause_s": pause,
    }
    print(json.dumps(run["machine"], ensure_ascii=False), flush=True)

    def save() -> None:
        run["ended"] = now_iso()
        record = {**run, "steps": [s.record() for s in steps]}
        (out / "results.json").write_text(
            json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
        (out / "results.md").write_text(markdown(run, steps), encoding="utf-8")

    try:
        for n, step in enumerate(to_run):
            if n and pause > 0:
                print(f"\n(pausing {pause:.0f} s so the last step's load decays)", flush=True)
                time.sleep(pause)
            try:
                run_step(step, env, logs / f"{step.name}.log", raw / f"{step.name}.json")
            except OSError as exc:
                step.status, step.error = "failed", f"could not run: {exc}"
            save()  # a partial table survives a later crash
    except KeyboardInterrupt:
        print("interrupted: the table has the steps done so far", file=sys.stderr)
    finally:
        save()
    print("\n" + (out / "results.md").read_text(encoding="utf-8"))
    print(f"written: {out / 'results.md'}, {out / 'results.json'}, {logs}/")
    return 0 if all(s.status in ("ok", "skipped") for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
