"""`kaitoctl status`, `chat`'s workspace choice and `deploy --from-tuning` (ops/status.py, chat.py, tuned.py), from
workspaces written into the in-memory cluster the way kaitoctl writes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, NotFound, OperationFailed
from kaitoctl.core.render import render_plan
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.ops.chat import choose_model, find_workspace, ready_pod
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import PlacementChoice, plan_for
from kaitoctl.ops.status import age, collect, compute_status
from kaitoctl.ops.tuned import tuned_base_and_adapter
from tests.unit import helpers
from tests.unit.fakes import FakeKube, gpu_node, pod_of

NS = "default"
LABELS = {"apps": "phi"}


def where() -> PlacementChoice:
    sku = helpers.catalog().sku("Standard_NC24ads_A100_v4")
    return PlacementChoice("selector", ready_nodes=[gpu_node("gpu-1", labels=LABELS)], sku=sku)


def write(kube: FakeKube, spec: WorkspaceSpec, state: dict[str, Any] | None = None, created: str = "") -> list[Any]:
    """Apply a workspace's objects as kaitoctl does (record included), without controllers."""
    objects = render_plan(plan_for(spec, RunOptions(no_pool=True), helpers.catalog(), where()), helpers.catalog())
    stored = []
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == f"{spec.name}-workspace":
            if state is not None:
                obj = {**obj, "data": {**(obj.get("data") or {}), "status.json": json.dumps(state)}}
            obj["metadata"]["creationTimestamp"] = created
        stored.append(kube.put(obj))
    return stored


def deploy(name: str = "phi", preset: str = "phi-3") -> WorkspaceSpec:
    return helpers.deploy_spec(preset, name=name, namespace=NS, labels=["apps=phi"])


def tune(name: str = "tphi", **kwargs: Any) -> WorkspaceSpec:
    return helpers.tune_spec(
        "phi-3", name=name, namespace=NS, labels=["apps=phi"], input_urls=["https://example.com/d.parquet"], **kwargs
    )


def ready_pods(kube: FakeKube, workload: dict[str, Any], ready: bool = True) -> None:
    kube.put(pod_of(workload, 0, ready=ready, phase="Running"))


def one(kube: FakeKube, name: str) -> Any:
    (status,) = collect(kube, NS, name)
    return status


# ---- status --------------------------------------------------------------------------------------------------------


def test_inference_ready_and_not_ready() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    sts = next(o for o in write(kube, deploy()) if o["kind"] == "StatefulSet")
    status = one(kube, "phi")
    assert (status.state, status.column(cond.RESOURCE_READY), status.column(cond.INFERENCE_READY)) == (
        "NotReady",
        "True",
        "False",
    )
    assert status.diagnosis is None
    ready_pods(kube, sts)
    status = one(kube, "phi")
    assert status.state == "Ready"
    assert [(c.type, c.status) for c in status.conditions.values()] == [
        (cond.RESOURCE_READY, "True"),
        (cond.INFERENCE_READY, "True"),
        (cond.WORKSPACE_SUCCEEDED, "True"),
    ]
    assert [p["metadata"]["name"] for p in status.pods] == ["phi-0"]
    data = status.to_dict()
    assert {k: data[k] for k in ("name", "namespace", "mode", "preset", "state", "reason", "output")} == {
        "name": "phi",
        "namespace": NS,
        "mode": "inference",
        "preset": "phi-3-mini-128k-instruct",
        "state": "Ready",
        "reason": None,
        "output": None,
    }


def test_a_not_ready_workspace_carries_its_diagnosis() -> None:
    kube = FakeKube()
    sts = next(o for o in write(kube, deploy()) if o["kind"] == "StatefulSet")
    stuck = pod_of(sts, 0, phase="Pending", ready=False)
    stuck["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no"}
    ]
    kube.put(stuck)
    status = one(kube, "phi")
    assert status.state == "NotReady"
    assert status.to_dict()["reason"] == {"reason": "Unschedulable", "message": "no", "pod": "phi-0"}
    assert status.column(cond.RESOURCE_READY) == "False"


@pytest.mark.parametrize(
    ("job_status", "recorded", "state", "started", "succeeded"),
    [
        ({}, None, "Pending", "False", "False"),
        ({"active": 1, "ready": 1}, None, "Running", "True", "False"),
        ({"succeeded": 1}, None, "Succeeded", "True", "True"),
        ({"conditions": [{"type": "Failed", "status": "True"}]}, None, "Failed", "False", "False"),
        ({}, {"state": "Failed"}, "Failed", "False", "False"),
    ],
)
def test_tuning_states(
    job_status: dict[str, Any], recorded: dict[str, Any] | None, state: str, started: str, succeeded: str
) -> None:
    kube = FakeKube()
    job = next(o for o in write(kube, tune(), recorded) if o["kind"] == "Job")
    kube.put({**job, "status": job_status})
    status = one(kube, "tphi")
    assert (status.state, status.column(cond.JOB_STARTED), status.column(cond.WORKSPACE_SUCCEEDED)) == (
        state,
        started,
        succeeded,
    )


@pytest.mark.parametrize(
    ("recorded", "succeeded", "reason"),
    [("Succeeded", "True", "workspaceSucceeded"), ("Failed", "False", "workspaceFailed")],
)
def test_a_finished_tuning_run_whose_job_was_cleaned_up(recorded: str, succeeded: str, reason: str) -> None:
    kube = FakeKube()
    output = {"volume": "pvc:tphi-adapter", "claimName": "tphi-adapter"}
    write(kube, tune(), {"state": recorded, "output": output})
    kube.remove(f"/apis/batch/v1/namespaces/{NS}/jobs/tphi")
    status = one(kube, "tphi")
    assert status.state == recorded
    assert status.conditions[cond.RESOURCE_READY] == cond.Condition(
        cond.RESOURCE_READY, "Unknown", "Released", "tuning finished"
    )
    assert status.conditions[cond.WORKSPACE_SUCCEEDED] == cond.Condition(
        cond.WORKSPACE_SUCCEEDED, succeeded, reason, "Job cleaned up"
    )
    assert status.column(cond.JOB_STARTED) == "True"
    assert status.output == output
    assert status.diagnosis is None


def test_collect_is_five_list_calls_and_filters_by_name() -> None:
    kube = FakeKube()
    write(kube, deploy("a"))
    write(kube, deploy("b"))
    kube.calls.clear()
    assert [s.name for s in collect(kube, NS)] == ["a", "b"]
    assert [c[0] for c in kube.calls] == ["list"] * 5
    assert [s.name for s in collect(kube, NS, "b")] == ["b"]
    kube.calls.clear()
    assert collect(kube, NS, "nope") == []
    assert len(kube.calls) == 1  # no records: nothing else is read


def test_pods_of_another_namespace_are_not_counted() -> None:
    kube = FakeKube()
    sts = next(o for o in write(kube, deploy()) if o["kind"] == "StatefulSet")
    elsewhere = pod_of(sts, 0, phase="Running")
    elsewhere["metadata"]["namespace"] = "other"
    kube.put(elsewhere)
    assert one(kube, "phi").pods == []
    assert compute_status(one(kube, "phi").record, {}, [], []).state == "NotReady"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-5, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (7199, "119m"), (7200, "2h"), (172799, "47h"), (172800, "2d")],
)
def test_age_like_kubectl(seconds: int, shown: str) -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    created = datetime.fromtimestamp(now.timestamp() - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert age(created, now) == shown
    assert age("yesterday", now) == "?"


# ---- chat: which workspace, which pod, which model -----------------------------------------------------------------


def test_chat_finds_the_one_ready_workspace() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    sts = next(o for o in write(kube, deploy("a")) if o["kind"] == "StatefulSet")
    write(kube, deploy("b"))
    ready_pods(kube, sts)
    found = find_workspace(kube, NS, None)
    assert found.name == "a"
    assert ready_pod(found) == "a-0"
    with pytest.raises(OperationFailed) as not_ready:
        find_workspace(kube, NS, "b")
    assert not_ready.value.reason == "NotReady"
    assert not_ready.value.message == (
        "workspace b is not ready: InferenceReady is False (WorkspaceInferenceStatusPending: 0/1 pod(s) ready)"
    )


def test_chat_refuses_a_choice_between_ready_workspaces() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    for name, created in (("a", "2026-01-01T00:00:00Z"), ("b", "2026-01-02T00:00:00Z")):
        ready_pods(kube, next(o for o in write(kube, deploy(name), created=created) if o["kind"] == "StatefulSet"))
    with pytest.raises(InvalidInput) as refused:
        find_workspace(kube, NS, None)
    assert refused.value.problem == "2 ready inference workspaces in namespace default"
    assert refused.value.fix == "choose one, e.g. --workspace b (the most recent)"


def test_chat_without_workspaces() -> None:
    kube = FakeKube()
    with pytest.raises(NotFound) as missing:
        find_workspace(kube, NS, None)
    assert missing.value.message == "no kaitoctl inference workspace in namespace default"
    with pytest.raises(NotFound) as missing:
        find_workspace(kube, NS, "x")
    assert missing.value.message == "no kaitoctl inference workspace 'x' in namespace default"
    write(kube, tune())  # a tuning workspace is not a chat target
    with pytest.raises(NotFound):
        find_workspace(kube, NS, None)


def test_chat_names_why_the_newest_workspace_is_not_ready() -> None:
    kube = FakeKube()
    write(kube, deploy("old"), created="2026-01-01T00:00:00Z")
    write(kube, deploy("new"), created="2026-01-02T00:00:00Z")
    with pytest.raises(OperationFailed) as not_ready:
        find_workspace(kube, NS, None)
    assert not_ready.value.message.startswith("workspace new is not ready: ResourceReady is False (NodeNotReady:")


def test_the_leader_pod_serves() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    sts = next(o for o in write(kube, deploy()) if o["kind"] == "StatefulSet")
    kube.put(pod_of(sts, 1, phase="Running"))
    kube.put(pod_of(sts, 0, phase="Running"))
    assert ready_pod(one(kube, "phi")) == "phi-0"
    kube.put(pod_of(sts, 0, phase="Running", ready=False))
    assert ready_pod(one(kube, "phi")) == "phi-1"
    kube.put(pod_of(sts, 1, phase="Running", ready=False))
    with pytest.raises(OperationFailed) as none:
        ready_pod(one(kube, "phi"))
    assert none.value.message == "workspace phi has no ready pod"


def test_choose_model() -> None:
    models = ["base", "ad1", "ad2"]
    assert choose_model(None, "x", ["ad1"], "base") is None  # legacy /chat: no model
    assert choose_model(models, "ad2", ["ad1"], "base") == "ad2"
    assert choose_model(models, None, ["nope", "ad1"], "base") == "ad1"
    assert choose_model(models, None, [], "base") == "base"
    assert choose_model(models, None, [], "other") == "base"  # the first served
    assert choose_model(["only"], None, [], None) == "only"
    assert choose_model([], "anything", [], None) == "anything"
    with pytest.raises(InvalidInput) as refused:
        choose_model(models, "gone", [], None)
    assert (refused.value.field, refused.value.fix) == ("--model", "served: base, ad1, ad2")
    with pytest.raises(OperationFailed) as empty:
        choose_model([], None, [], None)
    assert (empty.value.reason, empty.value.message) == (
        "NoModel",
        "the model server lists no models (/v1/models is empty)",
    )


# ---- deploy --from-tuning ------------------------------------------------------------------------------------------


def finished(kube: FakeKube, spec: WorkspaceSpec, at: str) -> None:
    write(kube, spec, {"state": "Succeeded", "finishedAt": at})


def test_the_one_successful_tuning_run_is_deployed_with_its_adapter() -> None:
    kube = FakeKube()
    finished(kube, tune(), "2026-01-01T00:00:00Z")
    write(kube, tune("running"))
    preset, adapter = tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)
    assert preset == "phi-3-mini-128k-instruct"
    assert (adapter.name, adapter.image, adapter.volume) == (
        "tphi",
        None,
        {"persistentVolumeClaim": {"claimName": "tphi-adapter"}},
    )


def test_an_image_adapter_keeps_its_pull_secret() -> None:
    kube = FakeKube()
    finished(kube, tune(output_image="r.example/ad:1", push_secret="push"), "t")
    _, adapter = tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)
    assert (adapter.image, adapter.image_pull_secrets) == ("r.example/ad:1", ("push",))


def test_a_completed_job_counts_before_the_record_says_so() -> None:
    kube = FakeKube()
    for obj in write(kube, tune()):
        if obj["kind"] == "Job":
            kube.put({**obj, "status": {"succeeded": 1}})
    assert tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)[1].name == "tphi"


def test_several_successful_runs_need_a_choice() -> None:
    kube = FakeKube()
    finished(kube, tune("older"), "2026-01-01T00:00:00Z")
    finished(kube, tune("newer"), "2026-01-02T00:00:00Z")
    with pytest.raises(InvalidInput) as refused:
        tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)
    assert refused.value.problem == "2 successful tuning runs in namespace default; choose one"
    assert refused.value.fix == "kaitoctl deploy --from-tuning newer (the most recent)"
    assert refused.value.details == [
        "newer: phi-3-mini-128k-instruct qlora, finished 2026-01-02T00:00:00Z",
        "older: phi-3-mini-128k-instruct qlora, finished 2026-01-01T00:00:00Z",
    ]
    assert tuned_base_and_adapter(RunOptions(), NS, "older", kube=kube)[1].name == "older"


def test_from_tuning_refusals() -> None:
    kube = FakeKube()
    with pytest.raises(InvalidInput) as refused:
        tuned_base_and_adapter(RunOptions(), NS, None, kube=kube)
    assert refused.value.problem == (
        "no successful kaitoctl tuning run in namespace default to deploy (tuning workspaces: none)"
    )
    write(kube, tune("running"))
    with pytest.raises(InvalidInput) as refused:
        tuned_base_and_adapter(RunOptions(), NS, "running", kube=kube)
    assert (refused.value.field, refused.value.problem) == (
        "--from-tuning",
        "tuning workspace running has not succeeded",
    )
    with pytest.raises(NotFound) as missing:
        tuned_base_and_adapter(RunOptions(), NS, "nope", kube=kube)
    assert missing.value.message == "no kaitoctl tuning workspace 'nope' in namespace default"


# ---- issue 14 item 8: status -o wide (endpoint, $/h, pool) ---------------------------------------------------------


def test_wide_fields_endpoint_cost_and_pool(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import time

    from tests.unit.test_ops_manage import deployed

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kube, aks, result = deployed(pool=True)
    pool = result["plan"]["placement"]["pool"]
    node = kube.obj("/api/v1/nodes/aks-node-0")
    node["metadata"]["labels"]["topology.kubernetes.io/region"] = "eastus"
    kube.put(node)
    status = one(kube, "phi")
    assert status.pool == pool and status.nodes_held == 1 and status.region == "eastus"
    assert status.endpoint == "http://phi.default.svc.cluster.local:80"
    assert status.usd_per_hour() is None  # nothing cached: unknown, and no network call
    cache = tmp_path / "kaitoctl" / "prices.json"
    cache.parent.mkdir(parents=True)
    assert status.sku == "Standard_NV36ads_A10_v5"
    cache.write_text(json.dumps({f"eastus/{status.sku}".lower(): {"usd_per_hour": 3.2, "at": time.time()}}))
    kube.put({**node, "metadata": {**node["metadata"], "name": "aks-node-1"}})
    status = one(kube, "phi")
    assert status.nodes_held == 2 and status.usd_per_hour() == 6.4  # price × nodes
    data = status.to_dict()
    assert (data["pool"], data["endpoint"], data["usdPerHour"]) == (pool, status.endpoint, 6.4)
    from kaitoctl.cli.output import document
    from kaitoctl.ops.pool import tagged_pools
    from tests.unit.test_json_schema import validate

    orphans = [p.to_dict() for p in tagged_pools(aks)]
    validate(document("List", items=[document("WorkspaceStatus", **data)], orphanedPools=orphans))
    for name in ("aks-node-0", "aks-node-1"):
        kube.delete(f"/api/v1/nodes/{name}")
    assert one(kube, "phi").usd_per_hour() == 0.0  # released (or scaled to 0): costs nothing


def test_wide_fields_of_a_tuning_workspace_on_existing_nodes() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    write(kube, tune())
    status = one(kube, "tphi")
    assert (status.pool, status.endpoint, status.nodes_held) == (None, None, 1)


def test_a_pending_cleanup_is_not_shown_as_released() -> None:
    """Issue 10 item 2: the Job is gone but the cleanup did not finish: the nodes are still held (and cost)."""
    kube = FakeKube()
    kube.put(gpu_node("gpu-1", labels=LABELS))
    write(kube, tune(), {"state": "Succeeded", "cleanup": "pending"})
    kube.remove(f"/apis/batch/v1/namespaces/{NS}/jobs/tphi")
    status = one(kube, "tphi")
    assert status.state == "Succeeded"
    assert status.conditions[cond.RESOURCE_READY].reason != "Released"
    assert status.column(cond.RESOURCE_READY) == "True" and status.nodes_held == 1


def test_status_orphans_offline_says_one_dim_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """Azure unreachable: status still works and says once that orphaned pools were not checked."""
    from kaitoctl.cli import options as o
    from kaitoctl.cli.status import _orphans, _start_orphan_lookup
    from kaitoctl.core.errors import CloudError
    from kaitoctl.ops.pool import PoolFinder

    def unreachable(self: PoolFinder) -> None:
        raise CloudError("listing the agent pools of rg/aks: cannot reach Azure Resource Manager", code="X")

    monkeypatch.setattr(PoolFinder, "pools", unreachable)
    azure = o.AzureFlags(subscription="s", resource_group="rg", cluster="aks")
    assert _orphans(_start_orphan_lookup(FakeKube(), o.ClusterFlags(), azure), NS, [], []) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "orphaned agent pools not checked: listing the agent pools" in err
    # Nothing configured (not an AKS context, no flags): not looked for, nothing said.
    monkeypatch.undo()
    assert _orphans(_start_orphan_lookup(FakeKube(), o.ClusterFlags(), o.AzureFlags()), NS, [], []) is None
    assert capsys.readouterr().err == ""
