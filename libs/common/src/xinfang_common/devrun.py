"""Run the whole suite on one machine: a local Kafka broker and the four services.

``python -m xinfang_common.devrun up`` (what ``make up`` runs) starts everything with SQLite
files under ``var/``, prints the URLs and stops everything on Ctrl-C; ``down`` stops a suite
left running by another shell. The end-to-end tests start the services through this module
too, so what they test is what a newcomer runs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from xinfang_common.kafka_admin import ensure_topics
from xinfang_common.settings import KafkaSettings

DEFAULT_PORTS = {"intake": 8001, "routing": 8002, "alerts": 8003, "reporting": 8004}


@dataclass
class ServiceSpec:
    """One service process: its ASGI app factory, port and environment."""

    name: str
    factory: str
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def dev_data_key(var_dir: Path) -> str:
    """The local encryption key for personal data, made once and kept under ``var/``."""
    path = var_dir / "intake-data.key"
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def dev_token_key(var_dir: Path) -> str:
    """The local secret that signs and verifies bearer tokens, made once and kept under ``var/``."""
    path = var_dir / "auth-jwt.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def write_dev_admin_token(var_dir: Path) -> Path:
    """An admin token of the demo root unit, valid 30 days, in ``var/dev-admin.token``."""
    from datetime import timedelta

    from xinfang_common.auth import Role, issue_token

    path = var_dir / "dev-admin.token"
    token = issue_token(
        subject="dev-admin",
        unit="430100-xfj",
        roles=[Role.ADMIN],
        key=dev_token_key(var_dir),
        lifetime=timedelta(days=30),
    )
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def suite_specs(
    root: Path, var_dir: Path, bootstrap: str, ports: Mapping[str, int] | None = None
) -> list[ServiceSpec]:
    """The four services configured for a local run on SQLite files under ``var_dir``."""
    ports = {**DEFAULT_PORTS, **(ports or {})}
    config = root / "deploy" / "config"
    common = {"XINFANG_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "XINFANG_AUTH_JWT_KEY": dev_token_key(var_dir)}
    return [
        ServiceSpec(
            "intake",
            "intake.main:create_app",
            ports["intake"],
            {
                **common,
                "INTAKE_DATABASE_URL": f"sqlite:///{var_dir / 'intake.db'}",
                "INTAKE_ENCRYPTION_KEYS": dev_data_key(var_dir),
            },
        ),
        ServiceSpec(
            "routing",
            "routing.main:create_app",
            ports["routing"],
            {
                **common,
                "ROUTING_ORG_TREE_PATH": str(config / "org-tree.demo.yaml"),
                "ROUTING_RULES_PATH": str(config / "routing-rules.demo.yaml"),
                "ROUTING_DATABASE_URL": f"sqlite:///{var_dir / 'routing.db'}",
                "ROUTING_TRAINING_DATA_PATH": str(var_dir / "routing-training.csv"),
            },
        ),
        ServiceSpec(
            "alerts",
            "alerts.main:create_app",
            ports["alerts"],
            {
                **common,
                "ALERTS_POLICY_PATH": str(config / "deadline-policy.national-2022.yaml"),
                "ALERTS_DATABASE_URL": f"sqlite:///{var_dir / 'alerts.db'}",
            },
        ),
        ServiceSpec(
            "reporting",
            "reporting.main:create_app",
            ports["reporting"],
            {**common, "REPORTING_DATABASE_URL": f"sqlite:///{var_dir / 'reporting.db'}"},
        ),
    ]


class Suite:
    """Start, watch and stop the service processes."""

    def __init__(self, specs: list[ServiceSpec], log_dir: Path, extra_env: Mapping[str, str] | None = None):
        self.specs = specs
        self.log_dir = log_dir
        self.extra_env = dict(extra_env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str | None = None) -> None:
        """Start every service (or the one named) as its own process."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            if name is not None and spec.name != name:
                continue
            env = {**os.environ, **self.extra_env, **spec.env}
            log = (self.log_dir / f"{spec.name}.log").open("ab")
            self.processes[spec.name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    spec.factory,
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(spec.port),
                    "--no-access-log",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until every service answers ``/readyz`` with 200."""
        deadline = time.monotonic() + timeout
        pending = {spec.name: spec for spec in self.specs if spec.name in self.processes}
        while pending:
            for name, spec in list(pending.items()):
                proc = self.processes[name]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}"
                    )
                try:
                    with urllib.request.urlopen(f"{spec.url}/readyz", timeout=2) as resp:
                        if resp.status == 200:
                            del pending[name]
                except (urllib.error.URLError, OSError):
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
            time.sleep(0.3)

    def stop(self, name: str | None = None, *, kill: bool = False) -> None:
        """Stop every service (or the one named): SIGTERM, or SIGKILL to simulate a crash.

        All are signalled first and then awaited, so they shut down side by side.
        """
        chosen = {svc: proc for svc, proc in self.processes.items() if name is None or svc == name}
        for proc in chosen.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for svc, proc in chosen.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            del self.processes[svc]

    def write_pids(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, proc in self.processes.items():
            (run_dir / f"{name}.pid").write_text(str(proc.pid))


def _kafka(root: Path, action: str, port: int, data_dir: Path) -> None:
    args = ["--port", str(port), "--controller-port", str(port + 1), "--data-dir", str(data_dir)]
    subprocess.run(["bash", str(root / "deploy" / "local" / "kafka.sh"), action, *args], check=True)


PROMETHEUS_PORT = 9090


def find_prometheus(root: Path) -> str | None:
    """A Prometheus server binary: on PATH, or the one `deploy/prometheus/promtool.sh fetch` keeps."""
    found = shutil.which("prometheus")
    if found:
        return found
    cache = Path(os.environ.get("XINFANG_TOOLS_CACHE", Path.home() / ".cache" / "xinfang" / "tools"))
    cached = cache / "bin" / "prometheus-debian"
    return str(cached) if os.access(cached, os.X_OK) else None


def local_prometheus_config(root: Path, specs: list[ServiceSpec]) -> str:
    """deploy/prometheus/prometheus.yml with the services at their local addresses."""
    config = yaml.safe_load((root / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    ports = {spec.name: spec.port for spec in specs}
    config["rule_files"] = [str(root / "deploy" / "prometheus" / "alerts.yml")]
    for job in config["scrape_configs"]:
        service = str(job["job_name"]).removeprefix("xinfang-")
        if service in ports:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[service]}"]}]
        elif job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [f"127.0.0.1:{PROMETHEUS_PORT}"]}]
    return yaml.safe_dump(config, sort_keys=False)


def start_prometheus(root: Path, var_dir: Path, specs: list[ServiceSpec]) -> subprocess.Popen[bytes] | None:
    """Start Prometheus scraping the local suite, if a binary is installed; None otherwise."""
    binary = find_prometheus(root)
    if binary is None:
        return None
    folder = var_dir / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(local_prometheus_config(root, specs), encoding="utf-8")
    log = (var_dir / "logs" / "prometheus.log").open("ab")
    return subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _terminate(pid: int, grace_seconds: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _down(root: Path, var_dir: Path, kafka_port: int) -> None:
    """Stop a suite started by ``up``: the services first, Kafka last, so they shut down cleanly."""
    run_dir = var_dir / "run"
    supervisor = _read_pid(run_dir / "devrun.pid")
    if supervisor is not None and _pid_alive(supervisor):
        # The supervisor stops its services and the broker in order; give it time to do so.
        _terminate(supervisor, grace_seconds=120)
    for pid_file in run_dir.glob("*.pid"):
        pid = _read_pid(pid_file)
        if pid is not None and pid != supervisor:
            _terminate(pid, grace_seconds=30)
        pid_file.unlink(missing_ok=True)
    _kafka(root, "stop", kafka_port, var_dir / "kafka")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devrun", description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument(
        "--kafka-port", type=int, default=int(os.environ.get("XINFANG_LOCAL_KAFKA_PORT", "9092"))
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    var_dir = root / "var"
    var_dir.mkdir(exist_ok=True)
    if args.action == "down":
        _down(root, var_dir, args.kafka_port)
        return 0

    bootstrap = f"127.0.0.1:{args.kafka_port}"
    _kafka(root, "start", args.kafka_port, var_dir / "kafka")
    created = ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    print(f"topics ready ({len(created)} created)")
    suite = Suite(suite_specs(root, var_dir, bootstrap), var_dir / "logs")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        suite.start()
        suite.write_pids(var_dir / "run")
        (var_dir / "run" / "devrun.pid").write_text(str(os.getpid()))
        suite.wait_ready()
        print("\nXinfang is up (logs in var/logs/; Ctrl-C or `make down` stops it):")
        for spec in suite.specs:
            print(f"  {spec.name:<10} API docs {spec.url}/docs   metrics {spec.url}/metrics")
        print(f"  kafka      {bootstrap}")
        prometheus = start_prometheus(root, var_dir, suite.specs)
        if prometheus is not None:
            suite.processes["prometheus"] = prometheus
            (var_dir / "run" / "prometheus.pid").write_text(str(prometheus.pid))
            print(f"  prometheus http://127.0.0.1:{PROMETHEUS_PORT}/targets (var/prometheus/prometheus.yml)")
        else:
            print(
                "  prometheus not installed (`deploy/prometheus/promtool.sh fetch` keeps one for `make up`)"
            )
        token_path = write_dev_admin_token(var_dir)
        print(
            f"  token      admin bearer token in {token_path.relative_to(root)}; other roles: xinfang-token"
        )
        while not stopping:
            for name, proc in suite.processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see var/logs/{name}.log", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping...")
        suite.stop()
        for pid_file in (var_dir / "run").glob("*.pid"):
            pid_file.unlink(missing_ok=True)
        _kafka(root, "stop", args.kafka_port, var_dir / "kafka")
    return 0


if __name__ == "__main__":
    sys.exit(main())
