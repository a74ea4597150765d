"""The four services as separate processes on the session's broker, as `make up` runs them."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from xinfang_common.devrun import Suite, suite_specs
from xinfang_common.testing.plugin import free_port, repo_root


@pytest.fixture(scope="module")
def suite(
    request: pytest.FixtureRequest, kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    """Start intake, routing, alerts and reporting; stop them after the module."""
    root = repo_root(Path(__file__).resolve())
    var_dir = tmp_path_factory.mktemp("suite")
    ports = {name: free_port() for name in ("intake", "routing", "alerts", "reporting")}
    running = Suite(
        suite_specs(root, var_dir, kafka_broker, ports),
        var_dir / "logs",
        extra_env={"XINFANG_LOG_JSON": "false", "XINFANG_LOG_LEVEL": "INFO"},
    )
    running.start()
    try:
        running.wait_ready(timeout=180)
        yield running
    finally:
        running.stop()
        if request.session.testsfailed:
            for log in sorted((var_dir / "logs").glob("*.log")):
                print(f"----- {log.name} (last 60 lines) -----")
                print("\n".join(log.read_text(errors="replace").splitlines()[-60:]))


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def urls(suite: Suite) -> dict[str, str]:
    """Base URL of each running service, by name."""
    return {spec.name: spec.url for spec in suite.specs}
