"""Never touch a foreign object (issue 10, item 4): a run refuses to take over an object it did not create."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.errors import InvalidInput
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import run_workspace
from tests.unit import helpers
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node, statefulset_controller

NS = "default"


def setup(*foreign: dict[str, Any]) -> FakeKube:
    kube = FakeKube(on_apply=[statefulset_controller])
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    for obj in foreign:
        kube.put(obj)
    return kube


def service(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"name": name, "namespace": NS, "labels": labels or {"app": "theirs"}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {"ports": [{"port": 80}]}}


def deploy(kube: FakeKube, **opts: Any) -> dict[str, Any]:
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=["apps=phi"])
    return run_workspace(spec, RunOptions(no_pool=True, **opts), helpers.catalog(), RecordingReporter(), kube=kube)


@pytest.mark.parametrize(
    ("labels", "owner"),
    [(None, ""), ({"app.kubernetes.io/managed-by": "kaitoctl", "kaitoctl.io/workspace": "other"}, "other")],
    ids=["foreign", "another-workspace"],
)
def test_an_existing_object_kaitoctl_did_not_create_is_refused(labels: dict[str, str] | None, owner: str) -> None:
    kube = setup(service("phi", labels))
    with pytest.raises(InvalidInput, match="Service/phi") as refused:
        deploy(kube)
    assert "--adopt" in (refused.value.hint or "")
    if owner:
        assert f"kaitoctl workspace {owner}" in refused.value.message
    assert kube.writes() == []
    assert kube.obj(f"/api/v1/namespaces/{NS}/services/phi")["metadata"]["labels"] == (labels or {"app": "theirs"})


def test_adopt_takes_it_over() -> None:
    kube = setup(service("phi"))
    result = deploy(kube, adopt=True)
    assert result["state"] == "Ready"
    labels = kube.obj(f"/api/v1/namespaces/{NS}/services/phi")["metadata"]["labels"]
    assert labels["kaitoctl.io/workspace"] == "phi"


def test_a_re_run_of_its_own_objects_is_not_refused() -> None:
    kube = setup()
    deploy(kube)
    assert deploy(kube)["state"] == "Ready"


def test_the_record_exists_before_the_first_azure_write() -> None:
    """Issue 10 item 3: in a new namespace (no server-side dry run) the pool PUT used to start before any record."""
    from tests.unit.test_ops_manage import deployed

    kube, _aks, result = deployed(pool=True)
    put = next(i for i, c in enumerate(kube.calls) if c[0] == "begin_put_pool")
    record_writes = [
        i for i, c in enumerate(kube.calls) if c[0] == "apply" and "phi-workspace" in str(c) and "dry" not in str(c)
    ]
    assert record_writes and record_writes[0] < put, kube.calls[: put + 1]
    record = kube.obj(f"/api/v1/namespaces/{NS}/configmaps/phi-workspace")
    assert result["plan"]["placement"]["pool"] in record["metadata"]["annotations"]["kaitoctl.io/placement"]


# ---- item 6: delete names what it removes; an adapter PVC in use is kept unless --force ---------------------------


def tuned_and_served() -> tuple[FakeKube, Any]:
    """A tuning workspace whose adapter PVC a running inference pod mounts."""
    from kaitoctl.ops.manage import delete_targets
    from tests.unit.test_ops_status import tune, write

    kube = FakeKube()
    write(kube, tune("tphi"))
    claim = next(
        o["metadata"]["name"]
        for o in kube.list("/api/v1/namespaces/default/persistentvolumeclaims")[0]
        if o["metadata"]["labels"].get("kaitoctl.io/workspace") == "tphi"
    )
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "srv-0", "namespace": NS, "labels": {"kaitoctl.io/workspace": "srv"}},
            "spec": {"volumes": [{"name": "a", "persistentVolumeClaim": {"claimName": claim}}]},
            "status": {"phase": "Running"},
        }
    )
    return kube, delete_targets(kube, NS, ["tphi"], all_=False)


def test_delete_preview_names_every_object() -> None:
    from kaitoctl.ops.manage import delete_preview

    kube, targets = tuned_and_served()
    (line,) = delete_preview(kube, targets)
    assert line.startswith("default/tphi: ")
    for ref in ("Job/tphi", "PersistentVolumeClaim/tphi-adapter", "ConfigMap/tphi-workspace"):
        assert ref in line


def test_an_adapter_volume_mounted_by_a_running_workspace_is_found() -> None:
    from kaitoctl.ops.manage import adapter_claims_in_use

    kube, targets = tuned_and_served()
    assert adapter_claims_in_use(kube, targets) == ["tphi-adapter (used by pod srv-0)"]
    pod = kube.obj("/api/v1/namespaces/default/pods/srv-0")
    assert pod is not None
    pod["status"]["phase"] = "Succeeded"
    kube.put(pod)
    assert adapter_claims_in_use(kube, targets) == []


# ---- item 2: a succeeded tuning run whose cleanup did not finish is finished by a re-run -------------------------


def test_a_re_run_finishes_a_pending_cleanup() -> None:
    from kaitoctl.core.errors import CloudError
    from kaitoctl.ops.cluster import get_record
    from tests.unit.fakes import FakeAks, FakePoller, job_controller

    kube = FakeKube(on_apply=[job_controller])
    aks = FakeAks(calls=kube.calls)

    def node_joins(poller: FakePoller) -> None:
        if poller.op == "put" and poller.body is not None:
            props = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))
            aks.fail_wait = CloudError("the delete failed", code="InternalServerError")  # the next wait: cleanup

    aks.on_done.append(node_joins)
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS)
    opts = RunOptions(
        subscription="s", resource_group="rg", aks_cluster="aks", no_device_plugin=True, cleanup="on-success"
    )
    with pytest.raises(CloudError):
        run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    record = get_record(kube, NS, "tphi-workspace")
    assert record is not None and record.status["state"] == "Succeeded" and record.status["cleanup"] == "pending"
    pool = record.placement.pool if record.placement else None
    assert pool in aks.pools

    aks.on_done.remove(node_joins)
    result = run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert result["state"] == "Succeeded"
    assert pool not in aks.pools
    record = get_record(kube, NS, "tphi-workspace")
    assert record is not None and record.status["cleanup"] == "done"


# ---- item 5: an adopted pool is never scaled below its count, never deleted, and given back as it was -------------

AZURE = {"subscription": "s", "resource_group": "rg", "aks_cluster": "aks", "no_device_plugin": True}
THEIR_TAGS = {"owner": "ops-team", "managed-by": "terraform"}
THEIR_LABELS = {"team": "ml"}


def adopted_setup(*, count: int = 3, tune: bool = False) -> tuple[FakeKube, Any, Any, str]:
    """A pool someone else created under the name kaitoctl would use, with `count` nodes, their tags and labels."""
    from kaitoctl.ops.run import PlacementChoice, plan_for
    from tests.unit.fakes import FakeAks, FakePoller, job_controller

    kube = FakeKube(on_apply=[job_controller if tune else statefulset_controller])
    aks = FakeAks(calls=kube.calls)
    if tune:
        spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS)
    else:
        spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS)
    plan = plan_for(spec, RunOptions(**AZURE), helpers.catalog(), PlacementChoice("pool"))
    name = plan.placement.pool_name or ""
    props = {
        "count": count,
        "vmSize": plan.sku.name,
        "mode": "User",
        "osSKU": "Ubuntu",
        "osDiskSizeGB": 512,
        "nodeLabels": dict(THEIR_LABELS),
        "nodeTaints": [],
        "tags": dict(THEIR_TAGS),
        "maxPods": 50,  # settings kaitoctl does not manage: a PUT without them would reset them
        "availabilityZones": ["1", "2"],
        "provisioningState": "Succeeded",
    }
    aks.pools[name] = {"name": name, "properties": props}

    def node_joins(poller: FakePoller) -> None:
        if poller.op == "put" and poller.body is not None:
            p = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=p["vmSize"], labels=p["nodeLabels"]))

    aks.on_done.append(node_joins)
    return kube, aks, spec, name


def adopt_run(kube: FakeKube, aks: Any, spec: Any, **opts: Any) -> dict[str, Any]:
    options = RunOptions(adopt=True, **{**AZURE, **opts})
    return run_workspace(spec, options, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)


def test_adopting_a_bigger_pool_keeps_its_count_taints_tags_and_labels() -> None:
    import json

    kube, aks, spec, name = adopted_setup(count=3)
    result = adopt_run(kube, aks, spec)
    assert result["state"] == "Ready" and result["pool"]["action"] == "update"
    props = aks.pools[name]["properties"]
    assert props["count"] == 3  # the plan needs 1: never scaled below its count
    assert props["nodeTaints"] == []
    assert props["tags"] == {**THEIR_TAGS, "kaitoctl-workspace": "default/phi", "kaitoctl-adopted-count": "3"}
    assert props["nodeLabels"]["team"] == "ml" and props["nodeLabels"]["kaitoctl.io/workspace"] == "phi"
    assert (props["maxPods"], props["availabilityZones"]) == (50, ["1", "2"])
    # The record, written before the first Azure write, keeps the pool as it was.
    record = kube.obj(f"/api/v1/namespaces/{NS}/configmaps/phi-workspace")
    assert json.loads(record["metadata"]["annotations"]["kaitoctl.io/adopted-pool"]) == {
        "pool": name,
        "count": 3,
        "tags": THEIR_TAGS,
        "nodeLabels": THEIR_LABELS,
    }
    put = next(i for i, c in enumerate(kube.calls) if c[0] == "begin_put_pool")
    assert any(c[0] == "apply" and "phi-workspace" in str(c) for c in kube.calls[:put])
    # A re-run needs no --adopt and changes nothing.
    again = run_workspace(
        spec, RunOptions(**AZURE), helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks
    )
    assert again["pool"]["action"] == "unchanged"
    record = kube.obj(f"/api/v1/namespaces/{NS}/configmaps/phi-workspace")
    assert json.loads(record["metadata"]["annotations"]["kaitoctl.io/adopted-pool"])["count"] == 3


def test_adopting_a_smaller_pool_scales_it_up() -> None:
    kube, aks, spec, name = adopted_setup(count=0)
    assert adopt_run(kube, aks, spec)["pool"]["action"] == "scale"
    assert aks.pools[name]["properties"]["count"] == 1


@pytest.mark.parametrize("keep_pool", [False, True], ids=["delete", "keep-pool"])
def test_delete_gives_an_adopted_pool_back_as_it_was(keep_pool: bool) -> None:
    from kaitoctl.ops.manage import delete_targets, delete_workspaces
    from kaitoctl.ops.progress import Progress

    kube, aks, spec, name = adopted_setup(count=3)
    adopt_run(kube, aks, spec)
    targets = delete_targets(kube, NS, ["phi"], all_=False)
    from kaitoctl.ops.manage import delete_preview

    assert delete_preview(kube, targets)[0].endswith(
        f"AKS agent pool {name} (adopted: given back with 3 node(s), not deleted)"
    )
    summary = delete_workspaces(
        kube,
        targets,
        RunOptions(**AZURE),
        Progress(RecordingReporter(), []),
        keep_pool=keep_pool,
        wait=False,
        aks=lambda _: aks,
    )
    assert summary["phi"]["pool"] == "restored to 3 node(s) (adopted: kept)"
    props = aks.pools[name]["properties"]
    assert (props["count"], props["tags"], props["nodeLabels"]) == (3, THEIR_TAGS, THEIR_LABELS)
    assert (props["maxPods"], props["availabilityZones"]) == (50, ["1", "2"])
    assert not [c for c in aks.calls if c[0] == "begin_delete_pool"]
    assert kube.obj(f"/api/v1/namespaces/{NS}/configmaps/phi-workspace") is None


def test_tuning_cleanup_gives_an_adopted_pool_back() -> None:
    kube, aks, spec, name = adopted_setup(count=2, tune=True)
    result = adopt_run(kube, aks, spec, cleanup="on-success")
    assert result["state"] == "Succeeded"
    props = aks.pools[name]["properties"]
    assert (props["count"], props["tags"], props["nodeLabels"]) == (2, THEIR_TAGS, THEIR_LABELS)
    assert not [c for c in aks.calls if c[0] == "begin_delete_pool"]


def test_an_adopted_pool_without_its_record_is_given_back_from_its_tag() -> None:
    from kaitoctl.ops.manage import delete_targets, delete_workspace_objects, delete_workspaces
    from kaitoctl.ops.pool import PoolFinder
    from kaitoctl.ops.progress import Progress

    kube, aks, spec, name = adopted_setup(count=3)
    adopt_run(kube, aks, spec)
    delete_workspace_objects(kube, NS, "phi")  # the record too: only the pool's tags are left
    finder = PoolFinder(RunOptions(**AZURE), kube, lambda _: aks)
    targets = delete_targets(kube, NS, ["phi"], all_=False, finder=finder)
    summary = delete_workspaces(
        kube,
        targets,
        RunOptions(**AZURE),
        Progress(RecordingReporter(), []),
        keep_pool=False,
        wait=False,
        finder=finder,
    )
    assert summary["phi"]["pool"] == "restored to 3 node(s) (adopted: kept)"
    props = aks.pools[name]["properties"]
    assert (props["count"], props["tags"], props["nodeLabels"]) == (3, THEIR_TAGS, THEIR_LABELS)


def test_an_adopted_pool_is_never_recreated() -> None:
    kube, aks, spec, name = adopted_setup(count=1)
    aks.pools[name]["properties"]["vmSize"] = "Standard_NC24ads_A100_v4"
    with pytest.raises(InvalidInput, match="never deletes a pool it adopted"):
        adopt_run(kube, aks, spec, recreate=True)
    assert [c for c in aks.calls if c[0].startswith("begin")] == []


def test_a_pending_cleanup_without_an_aks_target_stays_pending() -> None:
    """Issue 10 item 2: a re-run that cannot reach the pool must not record the cleanup as done."""
    from kaitoctl.core.errors import CloudError
    from kaitoctl.ops.cluster import get_record
    from tests.unit.fakes import FakeAks, FakePoller, job_controller

    kube = FakeKube(on_apply=[job_controller])
    aks = FakeAks(calls=kube.calls)

    def node_joins(poller: FakePoller) -> None:
        if poller.op == "put" and poller.body is not None:
            props = poller.body["properties"]
            kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))
            aks.fail_wait = CloudError("the delete failed", code="InternalServerError")

    aks.on_done.append(node_joins)
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS, labels=["apps=phi"])
    with pytest.raises(CloudError):
        run_workspace(
            spec,
            RunOptions(**AZURE, cleanup="on-success"),
            helpers.catalog(),
            RecordingReporter(),
            kube=kube,
            aks=lambda _: aks,
        )
    pool = next(iter(aks.pools))
    reporter = RecordingReporter()
    # No AKS cluster named this time: the run finds the pool's nodes by their labels, but cannot release the pool.
    result = run_workspace(
        spec, RunOptions(cleanup="on-success"), helpers.catalog(), reporter, kube=kube, aks=lambda _: aks
    )
    assert result["state"] == "Succeeded"
    record = get_record(kube, NS, "tphi-workspace")
    assert record is not None and record.status["cleanup"] == "pending"
    assert pool in aks.pools
    assert any(level == "warning" and f"agent pool {pool} not released" in text for level, text in reporter.messages)


def test_stop_gives_an_adopted_pool_back_instead_of_scaling_it_to_zero() -> None:
    from kaitoctl.ops.lifecycle import stop_workspace

    kube, aks, spec, name = adopted_setup(count=2)
    adopt_run(kube, aks, spec)
    result = stop_workspace(
        kube,
        NS,
        "phi",
        RunOptions(**AZURE),
        helpers.catalog(),
        RecordingReporter(),
        wait=False,
        aks=lambda _: aks,
        price=None,
    )
    assert result["pool"] == "restored to 2 node(s) (adopted: kept)"
    props = aks.pools[name]["properties"]
    assert (props["count"], props["tags"], props["nodeLabels"]) == (2, THEIR_TAGS, THEIR_LABELS)


# ---- the delete verb's two refusals, before anything is deleted ----------------------------------------------------


def test_delete_refuses_an_adapter_another_workspace_mounts_unless_forced() -> None:
    from kaitoctl.cli.delete import _refuse_shared_adapters

    kube, targets = tuned_and_served()
    with pytest.raises(InvalidInput) as caught:
        _refuse_shared_adapters(kube, targets, force=False)
    assert (caught.value.field, caught.value.problem, caught.value.fix) == (
        "--force",
        "adapter volume(s) tphi-adapter (used by pod srv-0) are mounted by another running workspace",
        "delete that workspace first, or pass --force to delete the adapter anyway",
    )
    _refuse_shared_adapters(kube, targets, force=True)  # forced: no refusal
    assert kube.obj("/api/v1/namespaces/default/persistentvolumeclaims/tphi-adapter") is not None


def test_delete_without_yes_and_without_a_terminal_asks_for_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from kaitoctl.cli.delete import _confirm

    kube, targets = tuned_and_served()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(InvalidInput) as caught:
        _confirm(kube, targets, "default")
    assert (caught.value.field, caught.value.problem, caught.value.fix) == (
        "--yes",
        "refusing to delete tphi without confirmation",
        "pass -y",
    )
