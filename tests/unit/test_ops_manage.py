"""`kaitoctl delete` and `kaitoctl logs` (ops/manage.py), and a pool run end to end, against the in-memory adapters.

The fake cluster and the fake AKS share one call log, so the order of writes across both is asserted."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.errors import CloudError, InvalidInput, NotFound
from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.ops.manage import delete_targets, delete_workspace_objects, delete_workspaces, log_lines, wait_until_gone
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.pool import owner_of
from kaitoctl.ops.progress import DONE, Progress
from kaitoctl.ops.run import NODE_POOL, run_workspace
from tests.unit import helpers
from tests.unit.fakes import (
    FakeAks,
    FakeKube,
    FakePoller,
    RecordingReporter,
    gpu_node,
    job_controller,
    statefulset_controller,
)

NS = "default"
AZURE = {"subscription": "sub", "resource_group": "rg", "aks_cluster": "aks"}


def deployed(*, pool: bool) -> tuple[FakeKube, FakeAks, dict[str, Any]]:
    """phi deployed by run_workspace: on a new AKS pool (whose node joins when the put completes) or on a node."""
    kube = FakeKube(on_apply=[statefulset_controller])
    aks = FakeAks(calls=kube.calls)
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=[] if pool else ["apps=phi"])
    if pool:

        def node_joins(poller: FakePoller) -> None:
            if poller.op == "put" and poller.body is not None:
                labels = poller.body["properties"]["nodeLabels"]
                kube.put(gpu_node("aks-node-0", instance_type=poller.body["properties"]["vmSize"], labels=labels))

        aks.on_done.append(node_joins)
        opts = RunOptions(no_device_plugin=True, **AZURE)
    else:
        kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
        opts = RunOptions(no_pool=True)
    result = run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    return kube, aks, result


def test_a_pool_run_creates_the_pool_and_waits_for_its_node() -> None:
    kube, aks, result = deployed(pool=True)
    pool = result["plan"]["placement"]["pool"]
    assert {k: result["pool"][k] for k in ("name", "action")} == {"name": pool, "action": "create"}
    assert "usdPerHour" in result["pool"]  # the retail price, None when the Prices API is unreachable
    assert result["state"] == "Ready"
    assert [(p["name"], p["status"]) for p in result["phases"]] == [
        (NODE_POOL, DONE),
        ("Apply", DONE),
        ("ResourceReady", DONE),
        ("InferenceReady", DONE),
        ("WorkspaceSucceeded", DONE),
    ]
    assert result["phases"][0]["message"] == f"agent pool {pool}: create"
    assert owner_of(aks.pools[pool]) == "default/phi"
    azure = [c[0] for c in aks.calls if c[0] in ("cluster", "get_pool", "usages", "begin_put_pool", "wait")]
    # The SKU ranking looks for the workspace's pool, then reads the region and its usages; the pool preflight
    # then reads them again.
    assert azure == ["get_pool", "cluster", "usages", "cluster", "get_pool", "usages", "begin_put_pool", "wait"]
    # Everything Azure is asked before the first write to the cluster.
    first_write = kube.calls.index(kube.writes()[0])
    assert kube.calls.index(("usages", "eastus")) < first_write


def test_a_pool_run_refused_by_quota_writes_nothing() -> None:
    kube = FakeKube()
    aks = FakeAks(calls=kube.calls, quota={"standardNVADSA10v5Family": (0, 8)})
    # A given size is checked against the quota (without one, the ranking would leave the A10 out).
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, instance_type="Standard_NV36ads_A10_v5")
    from kaitoctl.core.errors import CloudError

    with pytest.raises(CloudError) as refused:
        run_workspace(spec, RunOptions(**AZURE), helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert refused.value.code == "QuotaExceeded"
    assert kube.writes() == []
    assert [c for c in aks.calls if c[0].startswith("begin")] == []


def test_a_pool_tuning_run_releases_its_pool_on_cleanup() -> None:
    kube = FakeKube(on_apply=[job_controller])
    aks = FakeAks(calls=kube.calls)

    def node_joins(poller: FakePoller) -> None:
        if poller.op == "put" and poller.body is not None:
            props = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))

    aks.on_done.append(node_joins)
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS, input_urls=["https://example.com/d.parquet"])
    opts = RunOptions(no_device_plugin=True, cleanup="on-success", **AZURE)
    result = run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    pool = result["plan"]["placement"]["pool"]
    assert result["state"] == "Succeeded"
    assert aks.pools == {}
    order = [c[:2] for c in kube.calls if c[0] in ("begin_put_pool", "begin_delete_pool", "delete")]
    assert order == [
        ("begin_put_pool", pool),
        ("delete", "/apis/batch/v1/namespaces/default/jobs/tphi"),
        ("delete", "/api/v1/namespaces/default/configmaps/tphi-params"),
        ("begin_delete_pool", pool),
    ]


def test_no_wait_leaves_the_pool_operation_running() -> None:
    kube = FakeKube()
    aks = FakeAks(calls=kube.calls)
    reporter = RecordingReporter()
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS)
    opts = RunOptions(no_device_plugin=True, no_wait=True, **AZURE)
    result = run_workspace(spec, opts, helpers.catalog(), reporter, kube=kube, aks=lambda _: aks)
    pool = result["plan"]["placement"]["pool"]
    assert ("info", f"agent pool {pool}: create continues in Azure") in reporter.messages
    assert [p["status"] for p in result["phases"]] == ["InProgress", "True", "Skipped", "Skipped", "Skipped"]


# ---- delete --------------------------------------------------------------------------------------------------------


def writes(calls: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [c[:2] for c in calls if c[0] in ("delete", "begin_delete_pool", "begin_put_pool")]


def test_delete_removes_objects_then_the_pool_then_waits() -> None:
    kube, aks, result = deployed(pool=True)
    pool = result["plan"]["placement"]["pool"]
    kube.calls.clear()
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    assert [(t.name, t.namespace, t.record is not None) for t in targets] == [("phi", NS, True)]
    progress = Progress(RecordingReporter(), [])
    summary = delete_workspaces(
        kube, targets, RunOptions(timeout_s=5, **AZURE), progress, keep_pool=False, wait=True, aks=lambda _: aks
    )
    assert writes(kube.calls) == [
        ("delete", "/apis/apps/v1/namespaces/default/statefulsets/phi"),
        ("delete", "/api/v1/namespaces/default/services/phi"),
        ("delete", "/api/v1/namespaces/default/services/phi-headless"),
        ("begin_delete_pool", pool),
        ("delete", "/api/v1/namespaces/default/configmaps/phi-workspace"),  # the record goes last (issue 10)
    ]
    assert summary == {
        "phi": {
            "deleted": ["StatefulSet/phi", "Service/phi", "Service/phi-headless", "ConfigMap/phi-workspace"],
            "pool": "deleted",
        }
    }
    assert pool not in aks.pools
    assert kube.obj("/api/v1/namespaces/default/pods/phi-0") is None  # gone with its StatefulSet
    r = progress.records["delete phi"]
    assert (r.status, r.reason, r.message) == (DONE, "Deleted", "4 object(s); pool deleted")


def test_delete_keep_pool_scales_it_to_zero() -> None:
    kube, aks, result = deployed(pool=True)
    pool = result["plan"]["placement"]["pool"]
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    summary = delete_workspaces(
        kube,
        targets,
        RunOptions(**AZURE),
        Progress(RecordingReporter(), []),
        keep_pool=True,
        wait=False,
        aks=lambda _: aks,
    )
    assert summary["phi"]["pool"] == "scaled to 0"
    assert aks.pools[pool]["properties"]["count"] == 0


def test_delete_without_an_aks_target_is_refused_before_anything_is_deleted() -> None:
    """Deleting the objects and the record but not the pool would lose track of it (issue 10, item 1)."""
    kube, aks, result = deployed(pool=True)
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    kube.calls.clear()
    pool = result["plan"]["placement"]["pool"]
    with pytest.raises(InvalidInput, match=f"phi \\({pool}\\) run on an AKS agent pool") as refused:
        delete_workspaces(
            kube,
            targets,
            RunOptions(),
            Progress(RecordingReporter(), []),
            keep_pool=False,
            wait=False,
            aks=lambda _: aks,
        )
    assert refused.value.hint and "--resource-group and --cluster" in refused.value.hint
    assert writes(kube.calls) == []
    assert pool in aks.pools


def test_an_azure_error_releasing_the_pool_keeps_the_record() -> None:
    """The record names the pool: after a failed release, `kaitoctl delete phi` can still find and finish it."""
    kube, aks, result = deployed(pool=True)
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    aks.fail_wait = CloudError("the delete failed", code="InternalServerError")
    with pytest.raises(CloudError):
        delete_workspaces(
            kube,
            targets,
            RunOptions(**AZURE),
            Progress(RecordingReporter(), []),
            keep_pool=False,
            wait=False,
            aks=lambda _: aks,
        )
    assert kube.obj("/api/v1/namespaces/default/configmaps/phi-workspace") is not None
    assert kube.obj("/apis/apps/v1/namespaces/default/statefulsets/phi") is None
    again = delete_targets(kube, NS, ["phi"], all_=False)
    assert again[0].record is not None and again[0].record.placement is not None
    summary = delete_workspaces(
        kube,
        again,
        RunOptions(**AZURE),
        Progress(RecordingReporter(), []),
        keep_pool=False,
        wait=False,
        aks=lambda _: aks,
    )
    assert summary["phi"]["pool"] == "deleted"
    assert result["plan"]["placement"]["pool"] not in aks.pools
    assert kube.obj("/api/v1/namespaces/default/configmaps/phi-workspace") is None


def test_delete_on_existing_nodes_touches_no_pool() -> None:
    kube, aks, _ = deployed(pool=False)
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    summary = delete_workspaces(
        kube,
        targets,
        RunOptions(**AZURE),
        Progress(RecordingReporter(), []),
        keep_pool=False,
        wait=True,
        aks=lambda _: aks,
    )
    assert summary["phi"]["pool"] is None
    assert [c for c in aks.calls if c[0] in ("get_pool", "begin_delete_pool")] == []


def test_delete_objects_keeps_the_adapter_volume_on_request() -> None:
    kube = FakeKube()
    labels = {WORKSPACE_LABEL: "t", "app.kubernetes.io/managed-by": "kaitoctl"}
    for kind, api, plural in (("PersistentVolumeClaim", "v1", "pvc"), ("Job", "batch/v1", "job"), ("Pod", "v1", "pod")):
        kube.put(
            {"apiVersion": api, "kind": kind, "metadata": {"name": f"t-{plural}", "namespace": NS, "labels": labels}}
        )
    kube.put({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "other", "namespace": NS, "labels": {}}})
    assert delete_workspace_objects(kube, NS, "t", keep_adapter_volume=True) == ["Job/t-job"]
    assert delete_workspace_objects(kube, NS, "t") == ["PersistentVolumeClaim/t-pvc"]
    assert kube.obj(f"/api/v1/namespaces/{NS}/pods/t-pod") is not None  # pods go with their owners, not by label
    assert kube.obj(f"/apis/batch/v1/namespaces/{NS}/jobs/other") is not None


def test_delete_targets_refuses_an_unknown_name() -> None:
    with pytest.raises(NotFound) as missing:
        delete_targets(FakeKube(), NS, ["nope"], all_=False)
    assert missing.value.message == "no kaitoctl workspace 'nope' in namespace default"


def test_delete_targets_finds_leftovers_without_a_record() -> None:
    kube = FakeKube()
    kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "half", "namespace": NS, "labels": {WORKSPACE_LABEL: "half"}},
        }
    )
    (target,) = delete_targets(kube, NS, ["half"], all_=False)
    assert (target.name, target.record) == ("half", None)


def test_delete_all_lists_records_and_labelled_configmaps() -> None:
    kube, _, _ = deployed(pool=False)
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "orphan-params",
                "namespace": NS,
                "labels": {WORKSPACE_LABEL: "orphan", "app.kubernetes.io/managed-by": "kaitoctl"},
            },
        }
    )
    assert [t.name for t in delete_targets(kube, NS, [], all_=True)] == ["orphan", "phi"]


def test_wait_until_gone_returns_what_is_left_at_the_deadline() -> None:
    kube = FakeKube()
    labels = {"a": "b"}
    kube.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS, "labels": labels}})
    seen: list[list[str]] = []
    assert wait_until_gone(kube, NS, "a=b", (("v1", "Pod"),), 0.3, on_left=seen.append) == ["Pod/p"]
    assert seen[0] == ["Pod/p"]
    kube.remove(f"/api/v1/namespaces/{NS}/pods/p")
    assert wait_until_gone(kube, NS, "a=b", (("v1", "Pod"),), 5) == []


# ---- logs ----------------------------------------------------------------------------------------------------------


def pod(name: str, *, created: str = "2026-01-01T00:00:00Z", init: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "phi"}, {"name": "sidecar"}]}
    if init:
        spec["initContainers"] = [{"name": "download"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {WORKSPACE_LABEL: "phi"}, "creationTimestamp": created},
        "spec": spec,
    }


def test_logs_of_the_leader_main_container() -> None:
    kube = FakeKube(pod_logs={(NS, "phi-0", "phi"): ["a", "b", "c"]})
    kube.put(pod("phi-1"))
    kube.put(pod("phi-0"))
    assert list(log_lines(kube, NS, "phi", tail=2)) == ["b", "c"]


def test_logs_of_the_newest_job_pod_and_its_init_containers() -> None:
    kube = FakeKube(pod_logs={(NS, "phi-new", "download"): ["fetching"], (NS, "phi-new", "phi"): ["training"]})
    kube.put(pod("phi-old", created="2026-01-01T00:00:00Z"))
    kube.put(pod("phi-new", created="2026-01-02T00:00:00Z", init=True))
    assert list(log_lines(kube, NS, "phi")) == ["training"]
    assert list(log_lines(kube, NS, "phi", init=True)) == ["==> phi-new/download <==", "fetching"]


def test_logs_refusals() -> None:
    kube = FakeKube()
    with pytest.raises(NotFound) as missing:
        list(log_lines(kube, NS, "phi"))
    assert missing.value.message == "no kaitoctl workspace 'phi' in namespace default"
    kube.put(pod("phi-0"))
    with pytest.raises(InvalidInput) as refused:
        list(log_lines(kube, NS, "phi", container="nope"))
    assert (refused.value.field, refused.value.problem) == ("--container", "phi-0 has no container 'nope'")
    with pytest.raises(InvalidInput) as refused:
        list(log_lines(kube, NS, "phi", pod="phi-9"))
    assert (refused.value.field, refused.value.problem) == ("--pod", "phi-9 is not a pod of phi")
    with pytest.raises(InvalidInput) as refused:
        list(log_lines(kube, NS, "phi", init=True))
    assert refused.value.problem == "phi-0 has no init containers"


def test_logs_of_a_recorded_workspace_without_pods() -> None:
    kube, _, _ = deployed(pool=False)
    for name in ("phi-0",):
        kube.remove(f"/api/v1/namespaces/{NS}/pods/{name}")
    with pytest.raises(NotFound) as missing:
        list(log_lines(kube, NS, "phi"))
    assert missing.value.message == "workspace phi has no pods (yet, or any more)"


# ---- issue 10 item 1: a pool whose record is gone is found by its tags -------------------------------------------


def half_failed() -> tuple[FakeKube, FakeAks, str]:
    """phi deployed on a pool, then every object of it (its record too) lost: only the tagged pool is left."""
    kube, aks, result = deployed(pool=True)
    delete_workspace_objects(kube, NS, "phi")
    assert kube.obj("/api/v1/namespaces/default/configmaps/phi-workspace") is None
    return kube, aks, str(result["plan"]["placement"]["pool"])


def test_delete_finds_the_pool_of_a_workspace_without_a_record_by_its_tags() -> None:
    from kaitoctl.ops.pool import PoolFinder

    kube, aks, pool = half_failed()
    # Another workspace's pool and a foreign one are not taken.
    aks.pools["kcother"] = {
        "name": "kcother",
        "properties": {"tags": {"managed-by": "kaitoctl", "kaitoctl-workspace": "other/phi"}},
    }
    aks.pools["theirs"] = {"name": "theirs", "properties": {"tags": {"kaitoctl-workspace": "default/phi"}}}
    finder = PoolFinder(RunOptions(**AZURE), kube, lambda _: aks)
    (target,) = delete_targets(kube, NS, ["phi"], all_=False, finder=finder)
    assert (target.name, target.record, target.pool) == ("phi", None, pool)
    summary = delete_workspaces(
        kube,
        [target],
        RunOptions(**AZURE),
        Progress(RecordingReporter(), []),
        keep_pool=False,
        wait=False,
        finder=finder,
    )
    assert summary["phi"]["pool"] == "deleted"
    assert sorted(aks.pools) == ["kcother", "theirs"]
    assert [c for c in aks.calls if c[0] == "list_pools"] == [("list_pools",)]  # one ARM list call


def test_delete_without_a_record_and_without_an_aks_target_says_how_to_find_the_pool() -> None:
    from kaitoctl.ops.pool import PoolFinder

    kube, aks, pool = half_failed()
    with pytest.raises(NotFound) as missing:
        delete_targets(kube, NS, ["phi"], all_=False, finder=PoolFinder(RunOptions(), kube, lambda _: aks))
    assert missing.value.hint and "--resource-group" in missing.value.hint and "tags" in missing.value.hint
    assert pool in aks.pools and not [c for c in aks.calls if c[0] == "list_pools"]


def test_delete_all_takes_the_namespace_s_tagged_pools_without_a_record() -> None:
    from kaitoctl.ops.pool import PoolFinder

    kube, aks, pool = half_failed()
    aks.pools["kcother"] = {
        "name": "kcother",
        "properties": {"tags": {"managed-by": "kaitoctl", "kaitoctl-workspace": "other/x"}},
    }
    targets = delete_targets(kube, NS, [], all_=True, finder=PoolFinder(RunOptions(**AZURE), kube, lambda _: aks))
    assert [(t.name, t.pool) for t in targets] == [("phi", pool)]


def test_delete_with_a_record_does_not_ask_azure_for_tags() -> None:
    from kaitoctl.ops.pool import PoolFinder

    kube, aks, _ = deployed(pool=True)
    (target,) = delete_targets(
        kube, NS, ["phi"], all_=False, finder=PoolFinder(RunOptions(**AZURE), kube, lambda _: aks)
    )
    assert target.record is not None and target.pool is None
    assert not [c for c in aks.calls if c[0] == "list_pools"]
