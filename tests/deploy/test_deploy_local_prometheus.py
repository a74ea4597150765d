"""`make up` runs Prometheus against the local suite when a binary is installed."""

import subprocess
from pathlib import Path

import yaml

from xinfang_common.devrun import local_prometheus_config, suite_specs

ROOT = Path(__file__).resolve().parents[2]


def test_the_local_config_scrapes_each_service_at_its_local_port(tmp_path: Path) -> None:
    specs = suite_specs(ROOT, tmp_path, "127.0.0.1:9092")
    config = yaml.safe_load(local_prometheus_config(ROOT, specs))
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    for spec in specs:
        assert targets[f"xinfang-{spec.name}"] == [f"127.0.0.1:{spec.port}"]
    assert config["rule_files"] == [str(ROOT / "deploy" / "prometheus" / "alerts.yml")]


def test_promtool_accepts_the_local_config(tmp_path: Path) -> None:
    promtool = subprocess.run(
        ["bash", str(ROOT / "deploy" / "prometheus" / "promtool.sh"), "fetch"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.strip()
    config = tmp_path / "prometheus.yml"
    config.write_text(local_prometheus_config(ROOT, suite_specs(ROOT, tmp_path, "127.0.0.1:9092")))
    checked = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
