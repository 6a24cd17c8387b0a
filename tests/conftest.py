"""Shared fixtures: the local Kubernetes control plane (tests/harness/cluster.py).

- `cluster` (session): a LocalCluster started once per test session (`pytest-<pid>`), stopped at the end.
  With KAITOCTL_TEST_KUBECONFIG pointing at a `hack/local-cluster up` cluster, that one is reused (and left
  running). State, logs and the audit log live in .state/clusters/<name>/; they are kept when a test failed
  or KAITOCTL_KEEP_CLUSTER=1.
- `namespace` (function): a fresh namespace whose `default` ServiceAccount exists; deleted afterwards together
  with its pod behaviours, port-forward and log rules.
- `kwok_nodes` (function): `kwok_nodes.gpu(...)` / `kwok_nodes.cpu(...)` create kwok nodes (arguments of
  LocalCluster.add_gpu_node / add_cpu_node), deleted after the test.

Tests marked `e2e` SKIP with the reason when the harness is unavailable (binaries not built, no Go). With
CI=true or KAITOCTL_E2E=required (or 1) they FAIL instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache

import pytest

from tests.harness.cluster import HarnessUnavailable, KwokNodes, LocalCluster, find_bin_dir, reap_orphaned_sessions

# The ARM emulator's fixtures (arm_emulator, aks_client, ...) live in their own plugin module.
pytest_plugins = ["tests.harness.aks_fixtures"]


def e2e_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("KAITOCTL_E2E", "").lower() in (
        "1",
        "true",
        "yes",
        "required",
    )


def deselects_e2e(markexpr: str) -> bool:
    """Whether `-m markexpr` leaves out a test marked only `e2e`."""
    if not markexpr:
        return False
    from _pytest.mark.expression import Expression  # pytest's own -m parser (no public equivalent)

    return not Expression.compile(markexpr).evaluate(lambda name, **_: name == "e2e")


def pytest_configure(config: pytest.Config) -> None:
    # CI cannot pass by leaving the e2e suites out: deselecting them is as much a skip as a missing harness.
    markexpr = config.getoption("markexpr", default="") or ""
    if e2e_required() and deselects_e2e(markexpr):
        raise pytest.UsageError(f"-m {markexpr!r} leaves out the e2e tests, which are required here (CI / KAITOCTL_E2E)")


@cache
def harness_problem() -> str | None:
    """Why the local control plane cannot run here, or None."""
    if os.environ.get("KAITOCTL_TEST_KUBECONFIG"):
        return None  # an external `hack/local-cluster up` cluster; attach() checks it is running
    try:
        find_bin_dir()
    except HarnessUnavailable as e:
        return str(e)
    return None


def _skip_or_fail(problem: str) -> None:
    if e2e_required():
        pytest.fail(f"e2e harness required (CI / KAITOCTL_E2E=required) but unavailable: {problem}", pytrace=False)
    pytest.skip(f"local control plane unavailable: {problem}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("e2e") is not None and (problem := harness_problem()):
        _skip_or_fail(problem)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    if problem := harness_problem():
        _skip_or_fail(problem)
    external = os.environ.get("KAITOCTL_TEST_KUBECONFIG")
    if external:
        yield LocalCluster.attach(external)
        return
    reap_orphaned_sessions()
    c = LocalCluster.create(f"pytest-{os.getpid()}")
    try:
        c.up()
    except Exception as e:
        c.down(keep_state=True)
        pytest.fail(f"local control plane did not start: {e}\n(logs in {c.state_dir / 'logs'})", pytrace=False)
    yield c
    # Memory of each component at the end of the session, for sizing CI machines.
    rss = {k: round(v / 2**20) for k, v in c.component_rss().items()}
    (c.state_dir.parent / "last-session.json").write_text(json.dumps({"name": c.name, "rss_mib": rss}) + "\n")
    keep = request.session.testsfailed > 0 or os.environ.get("KAITOCTL_KEEP_CLUSTER") == "1"
    c.down(keep_state=keep)


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    ns = cluster.create_namespace(request.node.name)
    yield ns
    cluster.delete_namespace(ns)


@pytest.fixture
def kwok_nodes(cluster: LocalCluster) -> Iterator[KwokNodes]:
    nodes = cluster.node_factory()
    yield nodes
    nodes.delete_all()
