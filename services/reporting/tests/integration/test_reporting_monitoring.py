"""deploy/prometheus and deploy/grafana checked with promtool (Debian's prometheus package).

- the scrape configuration loads (`promtool check config`), with its alert rules;
- the alert rules pass their unit tests (`promtool test rules deploy/prometheus/tests/*.yml`);
- every PromQL query of every provisioned dashboard parses (each becomes a recording rule of a
  generated file for `promtool check rules`), and every metric it names is exported by a
  service: reporting's real /metrics page, or a metric declared in a service's or the common
  package's code.
"""

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from reporting.config import ReportingSettings
from reporting.main import create_app
from reporting.metrics import uninstall_case_counts
from xinfang_common.settings import KafkaSettings
from xinfang_common.testing.auth import auth_settings_for_tests as auth_settings

ROOT = Path(__file__).resolve().parents[4]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

# PromQL words that look like metric names: functions, aggregations, keywords.
_WORDS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "rate",
        "irate",
        "increase",
        "delta",
        "histogram_quantile",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "absent",
        "label_replace",
        "label_values",
        "topk",
        "bottomk",
        "le",
    ]
)
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers outside braces, brackets and quotes."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    stripped = re.sub(r"\{[^}]*\}", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\$\w+", " ", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    stripped = re.sub(r"\b\d+(\.\d+)?[smhdw]?\b", " ", stripped)
    names = set()
    for match in _IDENT.finditer(stripped):
        following = stripped[match.end() :].lstrip()
        if match.group() in _WORDS or following.startswith("("):
            continue
        names.add(match.group())
    return names


def promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced by values Prometheus accepts."""
    return expr.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$unit", ".*")


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary, unpacked from Debian's prometheus package into the tools cache once."""
    result = subprocess.run(
        ["bash", str(PROMETHEUS / "promtool.sh"), "fetch"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        pending: list[dict[str, Any]] = list(dashboard["panels"])
        while pending:
            panel = pending.pop()
            pending.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield path.name, panel["title"], target["expr"]


def test_the_scrape_configuration_and_its_rules_load(promtool: str, tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    # In the container the rules sit at /etc/prometheus; here, beside the configuration.
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"xinfang-intake", "xinfang-routing", "xinfang-alerts", "xinfang-reporting"} <= jobs
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = run(promtool, "check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    tests = sorted(str(p) for p in (PROMETHEUS / "tests").glob("*.yml"))
    assert tests
    result = run(promtool, "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {
        r["alert"]
        for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    assert {
        "XinfangServiceDown",
        "XinfangDeadLetterTopicNotEmpty",
        "XinfangConsumerLag",
        "XinfangOverdueRising",
        "XinfangHolidayCalendarMissingYear",
    } <= alerts


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    queries = list(dashboard_queries())
    assert {name for name, _, _ in queries} >= {"xinfang-operations.json", "xinfang-business.json"}
    rules = [
        {"record": f"xinfang:dashboard_query_{n}", "expr": promql(expr)}
        for n, (_, _, expr) in enumerate(queries)
    ]
    generated = tmp_path / "dashboard_queries.yml"
    generated.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(generated))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every metric name some service exports."""
    names = {"up"}
    folder = tmp_path_factory.mktemp("metrics")
    settings = ReportingSettings(database_url=f"sqlite:///{folder / 'reporting.db'}")
    app = create_app(
        settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"), auth_settings(), log_setup=False
    )
    app.state.database.create_tables()
    app.state.count_cases()
    page = TestClient(app).get("/metrics").text
    uninstall_case_counts(app.state.database)
    app.state.database.close()
    names |= {line.split()[2] for line in page.splitlines() if line.startswith("# TYPE")}
    names |= {re.split(r"[{ ]", line, maxsplit=1)[0] for line in page.splitlines() if line and line[0] != "#"}
    sources = [*ROOT.glob("services/*/src/**/*.py"), *(ROOT / "libs" / "common" / "src").rglob("*.py")]
    code = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    for declared in re.findall(r'"(xinfang_[a-z0-9_]+)"', code):
        names |= {declared, *(declared + suffix for suffix in ("_total", "_bucket", "_sum", "_count"))}
    return names


def test_every_metric_the_dashboards_and_alerts_name_is_exported(exported: set[str]) -> None:
    for name, title, expr in dashboard_queries():
        used = metric_names(expr)
        assert used, f"{name} {title}: no metric in {expr!r}"
        assert used <= exported, f"{name} {title}: unknown {sorted(used - exported)}"
    for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            used = metric_names(rule["expr"])
            assert used <= exported, f"{rule['alert']}: unknown {sorted(used - exported)}"
