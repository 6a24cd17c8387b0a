"""`kaitoctl start` as a user sees it (ops/lifecycle.py): it resumes the workspace in its own namespace, and warns
when the plan now asks for another pool size than the one the stop recorded."""

from __future__ import annotations

from kaitoctl.ops.lifecycle import STOPPED, start_workspace, write_status
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import run_workspace
from tests.unit import helpers
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node
from tests.unit.test_ops_lifecycle import NS, deployed, statefulset_scaler, status_json, stop


def warnings(reporter: RecordingReporter) -> list[str]:
    """The warnings about the pool's size (not the quota ones FakeAks's empty usages give)."""
    return [text for level, text in reporter.messages if level == "warning" and "quota" not in text]


def test_start_warns_when_the_plan_asks_for_another_pool_size_than_before_the_stop() -> None:
    kube, aks, opts = deployed(pool=True)
    stop(kube, aks, opts)
    status = status_json(kube)
    status[STOPPED]["pool"]["count"] = 3  # e.g. scaled by hand before the stop
    write_status(kube, NS, "phi", status)
    reporter = RecordingReporter()
    result = start_workspace(kube, NS, "phi", opts, helpers.catalog(), reporter, aks=lambda _: aks)
    assert result["state"] == "Ready" and result["plan"]["nodes"] == 1
    assert warnings(reporter) == ["the pool had 3 node(s) before the stop; the plan now asks for 1"]
    assert STOPPED not in status_json(kube)


def test_start_with_the_pool_size_of_before_the_stop_warns_nothing() -> None:
    kube, aks, opts = deployed(pool=True)
    stop(kube, aks, opts)
    reporter = RecordingReporter()
    start_workspace(kube, NS, "phi", opts, helpers.catalog(), reporter, aks=lambda _: aks)
    assert warnings(reporter) == []


def test_start_resumes_the_workspace_in_its_namespace_not_the_context_s() -> None:
    kube = FakeKube(on_apply=[statefulset_scaler])  # the context's namespace is "default"
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    spec = helpers.deploy_spec("phi-3", name="phi", namespace="team-a", labels=["apps=phi"])
    opts = RunOptions(no_pool=True)
    run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube)
    from kaitoctl.ops.lifecycle import stop_workspace

    stop_workspace(kube, "team-a", "phi", opts, helpers.catalog(), RecordingReporter(), wait=False)
    result = start_workspace(kube, "team-a", "phi", opts, helpers.catalog(), RecordingReporter())
    assert (result["namespace"], result["state"]) == ("team-a", "Ready")
    sts = kube.obj("/apis/apps/v1/namespaces/team-a/statefulsets/phi")
    assert sts is not None and sts["spec"]["replicas"] == 1
    assert kube.list("/apis/apps/v1/namespaces/default/statefulsets")[0] == []
