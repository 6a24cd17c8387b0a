"""`kaitoctl stop` / `kaitoctl start` (ops/lifecycle.py) and how `status` shows a stopped workspace, against the
in-memory adapters (tests/unit/fakes.py). The fake cluster and the fake AKS share one call log, so the order of
writes across both is asserted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kaitoctl.adapters.k8s import STATUS_FIELD_MANAGER
from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, NotFound
from kaitoctl.ops import cluster
from kaitoctl.ops.lifecycle import STOPPED, is_stopped, start_workspace, stop_workspace, workload_replicas
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import run_workspace
from kaitoctl.ops.status import collect
from tests.unit import helpers
from tests.unit.fakes import FakeAks, FakeKube, FakePoller, RecordingReporter, gpu_node, job_controller, pod_of

NS = "default"
AZURE = {"subscription": "sub", "resource_group": "rg", "aks_cluster": "aks"}
STS = f"/apis/apps/v1/namespaces/{NS}/statefulsets/phi"
RECORD = f"/api/v1/namespaces/{NS}/configmaps/phi-workspace"
PRICE = 4.83  # USD per node-hour, from the price lookup the tests inject


def statefulset_scaler(kube: FakeKube, obj: dict[str, Any]) -> None:
    """on_apply hook: the StatefulSet controller, scaling included (pods 0..replicas-1 exist and are Ready)."""
    if obj["kind"] != "StatefulSet":
        return
    replicas = workload_replicas(obj)
    for index in range(replicas):
        kube.put(pod_of(obj, index))
    index = replicas
    while kube.remove(f"/api/v1/namespaces/{NS}/pods/phi-{index}"):
        index += 1
    kube.put({**obj, "status": {"replicas": replicas, "readyReplicas": replicas}})


def deployed(*, pool: bool, spot: bool = False) -> tuple[FakeKube, FakeAks, RunOptions]:
    """phi deployed by run_workspace: on a pool kaitoctl creates (its node joins when a put to count > 0 ends, and
    leaves when one to 0 ends), or on a labelled node (--no-pool)."""
    kube = FakeKube(on_apply=[statefulset_scaler, job_controller])
    aks = FakeAks(calls=kube.calls)
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=[] if pool else ["apps=phi"])
    if pool:

        def nodes_follow(poller: FakePoller) -> None:
            if poller.op != "put" or poller.body is None:
                return
            props = poller.body["properties"]
            if props["count"]:
                kube.put(gpu_node("aks-node-0", instance_type=props["vmSize"], labels=props["nodeLabels"]))
            else:
                kube.remove("/api/v1/nodes/aks-node-0")

        aks.on_done.append(nodes_follow)
        opts = RunOptions(no_device_plugin=True, spot=spot, **AZURE)
    else:
        kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
        opts = RunOptions(no_pool=True)
    run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    return kube, aks, opts


def stop(kube: FakeKube, aks: FakeAks | None, opts: RunOptions, **kwargs: Any) -> dict[str, Any]:
    def no_azure(_: Any) -> FakeAks:
        raise AssertionError("no Azure client may be made")

    factory = (lambda _: aks) if aks is not None else no_azure
    return stop_workspace(
        kube,
        NS,
        kwargs.pop("name", "phi"),
        opts,
        helpers.catalog(),
        RecordingReporter(),
        aks=factory,
        price=kwargs.pop("price", lambda sku, region, spot: PRICE),
        **kwargs,
    )


def status_json(kube: FakeKube) -> dict[str, Any]:
    found = kube.obj(RECORD)
    assert found is not None
    return dict(json.loads(found["data"].get("status.json") or "{}"))


def pool_name(kube: FakeKube) -> str:
    record = cluster.get_record(kube, NS, "phi-workspace")
    assert record is not None and record.placement is not None and record.placement.pool
    return record.placement.pool


# ---- stop ------------------------------------------------------------------------------------------------------------


def test_stop_records_then_scales_the_workload_then_the_pool_to_zero() -> None:
    kube, aks, opts = deployed(pool=True)
    pool = pool_name(kube)
    kube.calls.clear()
    result = stop(kube, aks, opts)

    marker = {
        "at": result["stopped"]["at"],
        "replicas": 1,
        "pool": {"name": pool, "count": 1, "vmSize": "Standard_NV36ads_A10_v5", "usdPerHour": PRICE},
    }
    assert result["stopped"] == marker and result["alreadyStopped"] is False and result["pool"] == "scaled to 0"
    assert status_json(kube)[STOPPED] == marker
    writes = [c for c in kube.calls if c[0] in ("apply", "begin_put_pool") and c[-1] != "dry-run"]
    # The marker first (an interrupted stop keeps what ran), then the workload, then the pool.
    assert [c[1] if c[0] == "apply" else c[0] for c in writes] == [RECORD, STS, "begin_put_pool"]
    assert writes[0][2] == STATUS_FIELD_MANAGER and writes[1][2] == "kaitoctl"  # the spec's own manager
    assert writes[2][2]["properties"]["count"] == 0 and writes[2][2]["properties"]["vmSize"] == marker["pool"]["vmSize"]
    sts = kube.obj(STS)
    assert sts is not None and sts["spec"]["replicas"] == 0
    assert sts["spec"]["template"]["spec"]["containers"][0]["name"] == "phi"  # the whole object, re-applied
    assert aks.pools[pool]["properties"]["count"] == 0
    assert kube.obj(RECORD) is not None and kube.obj(f"/api/v1/namespaces/{NS}/services/phi") is not None


def test_stop_prices_a_spot_pool_at_the_spot_rate() -> None:
    kube, aks, opts = deployed(pool=True)
    pool = pool_name(kube)
    aks.pools[pool]["properties"]["scaleSetPriority"] = "Spot"
    asked: list[tuple[str, str, bool]] = []

    def price(sku: str, region: str, spot: bool) -> float:
        asked.append((sku, region, spot))
        return 0.5 if spot else PRICE

    result = stop(kube, aks, opts, price=price)
    assert [a[2] for a in asked] == [True]
    assert result["stopped"]["pool"]["spot"] is True and result["stopped"]["pool"]["usdPerHour"] == 0.5


def test_stop_waits_for_the_pods_before_the_pool_goes() -> None:
    kube, aks, opts = deployed(pool=True)
    result = stop(kube, aks, opts)
    assert [(p["name"], p["status"], p["reason"]) for p in result["phases"]] == [
        ("Stop", "True", "Scaled"),
        ("PodsGone", "True", "Gone"),
        ("NodePool", "True", "Succeeded"),
    ]
    assert kube.obj(f"/api/v1/namespaces/{NS}/pods/phi-0") is None


def test_stop_on_a_stopped_workspace_writes_nothing() -> None:
    kube, aks, opts = deployed(pool=True)
    first = stop(kube, aks, opts)
    kube.calls.clear()
    again = stop(kube, aks, opts)
    assert again["alreadyStopped"] is True and again["stopped"] == first["stopped"]
    assert kube.writes() == [] and not [c for c in kube.calls if c[0] in ("begin_put_pool", "begin_delete_pool")]


def test_a_stop_interrupted_before_the_pool_finishes_it_and_keeps_the_first_record() -> None:
    kube, aks, opts = deployed(pool=True)
    pool = pool_name(kube)
    first = stop(kube, aks, opts)
    aks.pools[pool]["properties"]["count"] = 1  # as if Ctrl-C came before the pool was scaled
    again = stop(kube, aks, opts)
    assert again["alreadyStopped"] is False and again["stopped"] == first["stopped"]  # still replicas 1, count 1
    assert aks.pools[pool]["properties"]["count"] == 0


def test_stop_on_labelled_nodes_scales_only_the_workload() -> None:
    kube, _, _ = deployed(pool=False)
    result = stop(kube, None, RunOptions(**AZURE))  # an AKS target configured: still no pool for this workspace
    assert result["stopped"]["pool"] is None and result["pool"] is None
    assert [p["name"] for p in result["phases"]] == ["Stop", "PodsGone"]
    sts = kube.obj(STS)
    assert sts is not None and sts["spec"]["replicas"] == 0
    assert kube.obj("/api/v1/nodes/gpu-1") is not None


def test_stop_refuses_a_tuning_workspace_and_writes_nothing() -> None:
    kube = FakeKube(on_apply=[job_controller])
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS, labels=["apps=phi"])
    run_workspace(spec, RunOptions(no_pool=True, cleanup="never"), helpers.catalog(), RecordingReporter(), kube=kube)
    kube.calls.clear()
    with pytest.raises(InvalidInput) as refused:
        stop(kube, None, RunOptions(no_pool=True), name="tphi")
    assert refused.value.exit_code == 2 and refused.value.field == "NAME"
    assert refused.value.problem == (
        "tphi is a tuning workspace (Succeeded; its GPU pool is released after the run): stop applies to inference "
        "workspaces"
    )
    assert refused.value.fix == "serve its adapter with `kaitoctl deploy --from-tuning tphi -n default`"
    assert kube.writes() == []


def test_stop_refuses_a_tuning_run_in_progress_with_the_next_step() -> None:
    kube = FakeKube()  # no Job controller: the run never finishes
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS, labels=["apps=phi"])
    run_workspace(spec, RunOptions(no_pool=True, no_wait=True), helpers.catalog(), RecordingReporter(), kube=kube)
    with pytest.raises(InvalidInput) as refused:
        stop(kube, None, RunOptions(no_pool=True), name="tphi")
    assert "with a run in progress" in refused.value.problem
    assert refused.value.fix is not None and "kaitoctl status tphi -n default -w" in refused.value.fix


def test_stop_of_an_unknown_workspace_is_not_found() -> None:
    with pytest.raises(NotFound):
        stop(FakeKube(), None, RunOptions(), name="nope")


def test_stop_of_a_pool_workspace_needs_the_aks_cluster() -> None:
    kube, aks, _ = deployed(pool=True)
    kube.calls.clear()
    with pytest.raises(InvalidInput) as refused:
        stop(kube, aks, RunOptions())
    assert refused.value.field == "--resource-group/--cluster"
    assert kube.writes() == [] and aks.pools[pool_name(kube)]["properties"]["count"] == 1


# ---- status ----------------------------------------------------------------------------------------------------------


def test_status_shows_stopped_and_what_it_no_longer_costs() -> None:
    kube, aks, opts = deployed(pool=True)
    stop(kube, aks, opts)
    (status,) = collect(kube, NS)
    assert status.state == "Stopped"
    assert [(c.type, c.status, c.reason) for c in status.conditions.values()] == [
        (cond.RESOURCE_READY, "False", "Stopped"),
        (cond.INFERENCE_READY, "False", "Stopped"),
        (cond.WORKSPACE_SUCCEEDED, "False", "Stopped"),
    ]
    assert status.diagnosis is not None and status.diagnosis.reason == "Stopped"
    marker = status_json(kube)[STOPPED]
    assert status.diagnosis.message == (
        f"stopped at {marker['at']}: 1 replica(s), agent pool {pool_name(kube)} 1 → 0 × Standard_NV36ads_A10_v5 "
        "($4.83/h no longer spent); resume: kaitoctl start phi -n default"
    )
    assert status.to_dict()["stopped"] == marker


def test_a_deploy_after_a_stop_makes_the_marker_stale_not_the_status() -> None:
    kube, _, opts = deployed(pool=False)
    stop(kube, None, opts)
    record = cluster.get_record(kube, NS, "phi-workspace")
    assert record is not None and is_stopped(record, kube.obj(STS))
    spec = helpers.deploy_spec("phi-3", name="phi", namespace=NS, labels=["apps=phi"])
    run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube)  # replicas back to 1
    (status,) = collect(kube, NS)
    assert status.state == "Ready" and "stopped" not in status.to_dict()


# ---- start -----------------------------------------------------------------------------------------------------------


def test_start_restores_the_pool_and_replicas_and_drops_the_marker() -> None:
    kube, aks, opts = deployed(pool=True)
    pool = pool_name(kube)
    stopped = stop(kube, aks, opts)
    kube.calls.clear()
    result = start_workspace(kube, NS, "phi", opts, helpers.catalog(), RecordingReporter(), aks=lambda _: aks)
    assert result["action"] == "start" and result["state"] == "Ready"
    assert result["restored"] == stopped["stopped"]
    assert {k: result["pool"][k] for k in ("name", "action")} == {"name": pool, "action": "scale"}
    assert aks.pools[pool]["properties"]["count"] == 1
    sts = kube.obj(STS)
    assert sts is not None and sts["spec"]["replicas"] == 1
    assert STOPPED not in status_json(kube)
    (status,) = collect(kube, NS)
    assert status.state == "Ready"


def test_start_of_a_spot_workspace_starts_its_spot_pool_without_asking_for_spot_again() -> None:
    kube, aks, _ = deployed(pool=True, spot=True)
    pool = pool_name(kube)
    record = cluster.get_record(kube, NS, "phi-workspace")
    assert record is not None and record.placement is not None and record.placement.spot is True
    plain = RunOptions(no_device_plugin=True, **AZURE)  # `kaitoctl start phi`: no --spot on the command line
    stop(kube, aks, plain)
    result = start_workspace(kube, NS, "phi", plain, helpers.catalog(), RecordingReporter(), aks=lambda _: aks)
    assert result["state"] == "Ready" and result["plan"]["spot"] is True
    props = aks.pools[pool]["properties"]
    assert props["count"] == 1 and props["scaleSetPriority"] == "Spot"


def test_start_on_labelled_nodes_stays_off_azure() -> None:
    kube, _, opts = deployed(pool=False)
    stop(kube, None, opts)
    with_azure = RunOptions(**AZURE)  # configured, but the workspace ran with --no-pool

    def no_azure(_: Any) -> FakeAks:
        raise AssertionError("no Azure client may be made")

    result = start_workspace(kube, NS, "phi", with_azure, helpers.catalog(), RecordingReporter(), aks=no_azure)
    assert result["state"] == "Ready" and "pool" not in result
    assert result["plan"]["placement"]["mode"] == "selector"


def test_start_of_a_running_workspace_changes_nothing() -> None:
    kube, aks, opts = deployed(pool=True)
    result = start_workspace(kube, NS, "phi", opts, helpers.catalog(), RecordingReporter(), aks=lambda _: aks)
    assert result["state"] == "Ready" and result["pool"]["action"] == "unchanged" and "restored" not in result


def test_start_refuses_a_tuning_workspace() -> None:
    kube = FakeKube(on_apply=[job_controller])
    kube.put(gpu_node("gpu-1", labels={"apps": "phi"}))
    spec = helpers.tune_spec("phi-3", name="tphi", namespace=NS, labels=["apps=phi"])
    run_workspace(spec, RunOptions(no_pool=True, cleanup="never"), helpers.catalog(), RecordingReporter(), kube=kube)
    kube.calls.clear()
    with pytest.raises(InvalidInput) as refused:
        start_workspace(kube, NS, "tphi", RunOptions(no_pool=True), helpers.catalog(), RecordingReporter())
    assert refused.value.problem.endswith("start applies to inference workspaces")
    assert kube.writes() == []


def test_a_failed_start_still_says_start_in_the_json_document() -> None:
    kube, aks, opts = deployed(pool=True)
    stop(kube, aks, opts)
    document: dict[str, Any] = {}
    with pytest.raises(InvalidInput):
        start_workspace(kube, NS, "phi", RunOptions(result=document), helpers.catalog(), RecordingReporter())
    assert document["action"] == "start"
    assert STOPPED in status_json(kube)  # still stopped
