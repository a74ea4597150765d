"""The four services as separate processes on the session's broker, as `make up` runs them."""

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from xinfang_common.auth import issue_token
from xinfang_common.devrun import Suite, dev_token_key, suite_specs, write_dev_admin_token
from xinfang_common.testing.plugin import free_port, repo_root


@pytest.fixture(scope="module")
def suite(
    request: pytest.FixtureRequest, suite_kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    """Start intake, routing, alerts and reporting; stop them after the module."""
    root = repo_root(Path(__file__).resolve())
    var_dir = tmp_path_factory.mktemp("suite")
    ports = {name: free_port() for name in ("intake", "routing", "alerts", "reporting")}
    running = Suite(
        suite_specs(root, var_dir, suite_kafka_broker, ports),
        var_dir / "logs",
        # A module may set SUITE_ENV to run its suite with settings of its own.
        extra_env={
            "XINFANG_LOG_JSON": "false",
            "XINFANG_LOG_LEVEL": "INFO",
            **getattr(request.module, "SUITE_ENV", {}),
        },
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
def http(suite: Suite) -> Iterator[httpx.Client]:
    """A client carrying an admin token the running suite accepts."""
    token = write_dev_admin_token(suite.log_dir.parent).read_text().strip()
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def urls(suite: Suite) -> dict[str, str]:
    """Base URL of each running service, by name."""
    return {spec.name: spec.url for spec in suite.specs}


@pytest.fixture
def staff(suite: Suite) -> Callable[..., dict[str, str]]:
    """``staff(unit, *roles)``: an Authorization header the running suite accepts."""
    key = dev_token_key(suite.log_dir.parent)

    def header(unit: str, *roles: str, subject: str = "e2e-staff") -> dict[str, str]:
        token = issue_token(subject=subject, unit=unit, roles=roles or ("admin",), key=key)
        return {"Authorization": f"Bearer {token}"}

    return header
