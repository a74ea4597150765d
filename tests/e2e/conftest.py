"""The four services as separate processes on the session's broker, as `make up` runs them.

Modules share one running suite (each starts from the state the previous ones left, so tests
measure differences, never absolute totals); a module that sets SUITE_ENV gets a suite of its own.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from xinfang_common.auth import issue_token
from xinfang_common.devrun import Suite, dev_token_key, suite_specs, write_dev_admin_token
from xinfang_common.testing.plugin import free_port, repo_root

LAST = "test_e2e_history_kpis.py"
"""Runs last on the shared suite: 2,816 imported cases keep alerts and reporting busy for a while
after it, and their texts must not become earlier cases that a later module's petition repeats."""
E2E_GROUP = "e2e"


def _module_name(item: pytest.Item) -> str:
    return Path(str(item.path)).name


def _has_own_settings(item: pytest.Item) -> bool:
    return hasattr(getattr(item, "module", None), "SUITE_ENV")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Modules with settings of their own (SUITE_ENV) first, on suites of their own; then the
    modules that share one suite, the history import last.

    Under pytest-xdist (``--dist loadgroup``) they form one group, so that one worker runs them
    all in this order on its one suite broker.
    """
    e2e = [i for i in items if "e2e" in Path(str(i.path)).parts]
    if not e2e:
        return
    for item in e2e:
        item.add_marker(pytest.mark.xdist_group(E2E_GROUP))
    first = min(items.index(i) for i in e2e)
    rest = [i for i in items if i not in e2e]
    ordered = sorted(
        e2e, key=lambda i: (0 if _has_own_settings(i) else 2 if _module_name(i) == LAST else 1, str(i.path))
    )
    items[:] = rest[:first] + ordered + rest[first:]


class _Suites:
    """At most one suite runs on the broker at a time (they share the production consumer groups):
    the shared one, started on first use and stopped after the last module that uses it, or a
    module's own."""

    def __init__(self, broker: str, factory: pytest.TempPathFactory) -> None:
        self.broker = broker
        self.factory = factory
        self.shared: Suite | None = None

    def start(self, extra_env: dict[str, str]) -> Suite:
        root = repo_root(Path(__file__).resolve())
        var_dir = self.factory.mktemp("suite")
        ports = {name: free_port() for name in ("intake", "routing", "alerts", "reporting")}
        running = Suite(
            suite_specs(root, var_dir, self.broker, ports),
            var_dir / "logs",
            extra_env={"XINFANG_LOG_JSON": "false", "XINFANG_LOG_LEVEL": "INFO", **extra_env},
        )
        running.start()
        try:
            running.wait_ready(timeout=180)
        except BaseException:
            running.stop()
            raise
        return running

    def stop(self, running: Suite, *, failed: bool) -> None:
        running.stop()
        if failed:
            for log in sorted(running.log_dir.glob("*.log")):
                print(f"----- {log.name} (last 60 lines) -----")
                print("\n".join(log.read_text(errors="replace").splitlines()[-60:]))

    def stop_shared(self, *, failed: bool) -> None:
        if self.shared is not None:
            shared, self.shared = self.shared, None
            self.stop(shared, failed=failed)


@pytest.fixture(scope="session")
def _suites(
    request: pytest.FixtureRequest, suite_kafka_broker: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Suites]:
    suites = _Suites(suite_kafka_broker, tmp_path_factory)
    yield suites
    suites.stop_shared(failed=bool(request.session.testsfailed))


@pytest.fixture(scope="module")
def suite(request: pytest.FixtureRequest, _suites: _Suites) -> Iterator[Suite]:
    """Intake, routing, alerts and reporting as `make up` runs them: one suite shared by the
    modules, or one of the module's own when it sets SUITE_ENV."""
    failed_before = request.session.testsfailed
    own_env = getattr(request.module, "SUITE_ENV", None)
    if own_env is not None:
        _suites.stop_shared(failed=False)
        own = _suites.start(own_env)
        try:
            yield own
        finally:
            _suites.stop(own, failed=request.session.testsfailed > failed_before)
        return
    if _suites.shared is None:
        _suites.shared = _suites.start({})
    yield _suites.shared
    if Path(str(request.path)).name == LAST or request.session.testsfailed > failed_before:
        # Nothing after it uses the suite (the fault drills start their own); a failed module
        # leaves a suite in an unknown state, so the next module gets a fresh one.
        _suites.stop_shared(failed=request.session.testsfailed > failed_before)


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
