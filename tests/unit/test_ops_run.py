"""Each step of `kaitoctl tune/deploy/apply` (ops/run.py) against an in-memory cluster (tests/unit/fakes.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kaitoctl.adapters.aks import AksTarget
from kaitoctl.adapters.k8s import STATUS_FIELD_MANAGER, KubeContext
from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import Interrupted, InvalidInput, OperationFailed
from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.core.render import render_plan
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.ops import cluster
from kaitoctl.ops import run as run_mod
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import DONE, FAILED, PENDING, RUNNING, SKIPPED, Progress
from kaitoctl.ops.run import (
    APPLY,
    CLEANUP,
    NODE_POOL,
    PlacementChoice,
    Run,
    already_succeeded,
    apply_objects,
    check_changes,
    cleanup,
    conclude,
    interrupted,
    make_room,
    phase_names,
    plan_for,
    preflight,
    resolve_placement,
    run_workspace,
    server_dry_run,
    skip_succeeded,
    skip_wait,
    wait,
    wait_target,
    write_and_wait,
)
from kaitoctl.ops.wait import WaitOutcome
from tests.unit import helpers
from tests.unit.fakes import (
    FakeKube,
    RecordingReporter,
    gpu_node,
    job_controller,
    statefulset_controller,
)

A100 = "Standard_NC24ads_A100_v4"
LABELS = {"apps": "phi"}
NS = "default"


def deploy(**kwargs: Any) -> WorkspaceSpec:
    kwargs.setdefault("labels", ["apps=phi"])
    return helpers.deploy_spec("phi-3", name="phi", namespace=NS, **kwargs)


def tune(**kwargs: Any) -> WorkspaceSpec:
    kwargs.setdefault("labels", ["apps=phi"])
    kwargs.setdefault("input_urls", ["https://example.com/data.parquet"])
    return helpers.tune_spec("phi-3", name="tphi", namespace=NS, **kwargs)


def selector_choice(*nodes: dict[str, Any]) -> PlacementChoice:
    sku = helpers.catalog().sku(A100)
    assert sku is not None
    return PlacementChoice("selector", ready_nodes=list(nodes) or [gpu_node("gpu-1", labels=LABELS)], sku=sku)


def make_run(
    spec: WorkspaceSpec,
    kube: FakeKube | None = None,
    opts: RunOptions | None = None,
    *,
    where: PlacementChoice | None = None,
    existing: cluster.WorkspaceRecord | None = None,
    changes: list[str] | None = None,
) -> Run:
    opts = opts or RunOptions(no_pool=True)
    where = where or selector_choice()
    plan = plan_for(spec, opts, helpers.catalog(), where)
    progress = Progress(RecordingReporter(), phase_names(spec, where.mode, opts))
    return Run(kube or FakeKube(), opts, plan, progress, existing, changes or [], started=0.0)


def status(run: Run, phase: str) -> tuple[str, str, str]:
    r = run.progress.records[phase]
    return r.status, r.reason, r.message


def store_record(kube: FakeKube, spec: WorkspaceSpec, state: dict[str, Any] | None = None) -> cluster.WorkspaceRecord:
    """An earlier run's record in the cluster, as kaitoctl writes it."""
    plan = plan_for(spec, RunOptions(no_pool=True), helpers.catalog(), selector_choice())
    record = next(o for o in render_plan(plan, helpers.catalog()) if o["metadata"]["name"] == plan.names.record)
    if state is not None:
        record = {**record, "data": {**(record.get("data") or {}), "status.json": json.dumps(state)}}
    kube.put(record)
    found = cluster.get_record(kube, NS, plan.names.record)
    assert found is not None
    return found


# ---- resolve placement ---------------------------------------------------------------------------------------------


def test_named_nodes_need_no_azure() -> None:
    kube = FakeKube()
    kube.put(gpu_node("gpu-1"))
    kube.put(gpu_node("gpu-2"))
    spec = deploy(labels=[], nodes=["gpu-2"])
    where = resolve_placement(spec, RunOptions(), kube, helpers.catalog())
    assert (where.mode, where.aks_target) == ("nodes", None)
    assert [n["metadata"]["name"] for n in where.ready_nodes] == ["gpu-2"]
    assert where.sku is not None and where.sku.name == A100


def test_no_pool_selects_labelled_ready_nodes() -> None:
    kube = FakeKube()
    kube.put(gpu_node("a", labels=LABELS))
    kube.put(gpu_node("b", labels=LABELS, ready=False))
    kube.put(gpu_node("c"))
    where = resolve_placement(deploy(), RunOptions(no_pool=True), kube, helpers.catalog())
    assert where.mode == "selector"
    assert [n["metadata"]["name"] for n in where.ready_nodes] == ["a"]


def test_an_aks_target_from_flags_means_a_pool() -> None:
    opts = RunOptions(subscription="sub", resource_group="rg", aks_cluster="aks")
    where = resolve_placement(deploy(), opts, FakeKube(), helpers.catalog())
    assert where == PlacementChoice("pool", aks_target=AksTarget("sub", "rg", "aks", "azurecloud", None, None))


def test_no_azure_and_labels_means_selector() -> None:
    kube = FakeKube()
    kube.put(gpu_node("a", labels=LABELS))
    assert resolve_placement(deploy(), RunOptions(), kube, helpers.catalog()).mode == "selector"


def test_no_azure_and_no_nodes_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_placement(deploy(labels=[]), RunOptions(), FakeKube(), helpers.catalog())
    assert refused.value.field == "--node/--label"
    assert refused.value.problem == "no AKS cluster to create a node pool in, and no existing nodes chosen"


def test_no_azure_and_no_nodes_is_refused_before_the_first_request() -> None:
    # Found by the fuzz test: a Workspace without a selector on a non-AKS context was refused (exit 2) only after
    # its record and namespace had been read. The flags and the kube context alone decide it.
    kube = FakeKube()
    with pytest.raises(InvalidInput) as refused:
        run_workspace(deploy(labels=[]), RunOptions(), helpers.catalog(), RecordingReporter(), kube=kube)
    assert refused.value.field == "--node/--label"
    assert kube.calls == []


@pytest.mark.parametrize(
    ("spec_kwargs", "opts", "server"),
    [
        ({"labels": ["apps=phi"]}, RunOptions(), "https://fake.invalid:6443"),
        ({"labels": [], "nodes": ["gpu-1"]}, RunOptions(), "https://fake.invalid:6443"),
        ({"labels": []}, RunOptions(no_pool=True), "https://fake.invalid:6443"),
        ({"labels": []}, RunOptions(resource_group="rg"), "https://fake.invalid:6443"),
        ({"labels": []}, RunOptions(aks_cluster="aks"), "https://fake.invalid:6443"),
        ({"labels": []}, RunOptions(), "https://aks-abc.hcp.westeurope.azmk8s.io:443"),
    ],
)
def test_a_placement_that_may_exist_is_left_to_the_cluster(
    spec_kwargs: dict[str, Any], opts: RunOptions, server: str
) -> None:
    kube = FakeKube(context=KubeContext("c", "default", server))
    run_mod.check_placement_possible(deploy(**spec_kwargs), opts, kube)  # no refusal
    with pytest.raises(InvalidInput):
        run_mod.check_placement_possible(deploy(labels=[]), RunOptions(), FakeKube())


@pytest.mark.parametrize(
    ("nodes", "spec_kwargs", "field", "problem"),
    [
        ([], {"labels": [], "nodes": ["gone"]}, "--node", "node(s) not found: gone"),
        (
            [gpu_node("gpu-1")],
            {"nodes": ["gpu-1"]},
            "--node",
            "node gpu-1 does not carry the selector's labels {'apps': 'phi'}",
        ),
        ([gpu_node("gpu-1", ready=False)], {"labels": [], "nodes": ["gpu-1"]}, "--node", "node(s) not Ready: gpu-1"),
        ([gpu_node("x")], {}, "--label", "no node matches the label selector {'apps': 'phi'}"),
        ([gpu_node("x", labels=LABELS, ready=False)], {}, "--label", "none of the matching nodes is Ready"),
        (
            [gpu_node("x", labels=LABELS, instance_type="Standard_D4s_v5")],
            {},
            "--label",
            "cannot tell the GPUs of node(s) x: no known instance type and no NVIDIA feature-discovery labels "
            "(nvidia.com/gpu.count, nvidia.com/gpu.memory)",
        ),
        (
            [gpu_node("x", labels=LABELS), gpu_node("y", labels=LABELS, instance_type="Standard_NC40ads_H100_v5")],
            {},
            "--label",
            "the chosen nodes have different GPU configurations: Standard_NC24ads_A100_v4, Standard_NC40ads_H100_v5",
        ),
        (
            [gpu_node("x", labels=LABELS)],
            {"instance_type": "Standard_NC40ads_H100_v5"},
            "--instance-type",
            "the chosen nodes are Standard_NC24ads_A100_v4, not Standard_NC40ads_H100_v5",
        ),
    ],
)
def test_existing_nodes_are_checked_before_any_write(
    nodes: list[dict[str, Any]], spec_kwargs: dict[str, Any], field: str, problem: str
) -> None:
    kube = FakeKube()
    for node in nodes:
        kube.put(node)
    with pytest.raises(InvalidInput) as refused:
        resolve_placement(deploy(**spec_kwargs), RunOptions(no_pool=True), kube, helpers.catalog())
    assert (refused.value.field, refused.value.problem) == (field, problem)
    assert kube.writes() == []


def test_nodes_known_by_feature_discovery_labels() -> None:
    kube = FakeKube()
    gfd = {"nvidia.com/gpu.count": "1", "nvidia.com/gpu.memory": "81920", "nvidia.com/gpu.product": "NVIDIA-A100"}
    kube.put(gpu_node("byo", instance_type="", labels={**LABELS, **gfd}))
    where = resolve_placement(deploy(), RunOptions(no_pool=True), kube, helpers.catalog())
    assert where.sku is not None
    assert (where.sku.name, where.sku.gpus, where.sku.gpu_memory_gib) == ("byo-NVIDIA-A100", 1, 80)


# ---- plan and records ----------------------------------------------------------------------------------------------


def test_plan_sizes_against_the_chosen_nodes() -> None:
    plan = plan_for(deploy(), RunOptions(no_pool=True), helpers.catalog(), selector_choice())
    assert (plan.placement.mode, plan.sku.name, plan.placement.nodes) == ("selector", A100, 1)


def test_immutable_changes_are_refused_without_recreate() -> None:
    kube = FakeKube()
    existing = store_record(kube, deploy())
    plan = plan_for(deploy(count=2), RunOptions(no_pool=True), helpers.catalog(), selector_choice())
    with pytest.raises(InvalidInput) as refused:
        check_changes(existing, plan, RunOptions())
    assert refused.value.field == "resource.count"
    assert refused.value.problem == "workspace phi exists and these fields cannot change: resource.count (None → 2)"
    assert check_changes(existing, plan, RunOptions(recreate=True)) == ["resource.count (None → 2)"]
    same = plan_for(deploy(), RunOptions(no_pool=True), helpers.catalog(), selector_choice())
    assert check_changes(existing, same, RunOptions()) == []
    assert check_changes(None, plan, RunOptions()) == []


@pytest.mark.parametrize(
    ("spec", "mode", "cleanup_", "names"),
    [
        (deploy(), "selector", None, [APPLY, cond.RESOURCE_READY, cond.INFERENCE_READY, cond.WORKSPACE_SUCCEEDED]),
        (
            deploy(),
            "pool",
            "always",
            [NODE_POOL, APPLY, cond.RESOURCE_READY, cond.INFERENCE_READY, cond.WORKSPACE_SUCCEEDED],
        ),
        (tune(), "selector", "never", [APPLY, cond.RESOURCE_READY, cond.JOB_STARTED, cond.WORKSPACE_SUCCEEDED]),
        (
            tune(),
            "pool",
            "on-success",
            [NODE_POOL, APPLY, cond.RESOURCE_READY, cond.JOB_STARTED, cond.WORKSPACE_SUCCEEDED, CLEANUP],
        ),
        (tune(), "nodes", "always", [APPLY, cond.RESOURCE_READY, cond.JOB_STARTED, cond.WORKSPACE_SUCCEEDED, CLEANUP]),
    ],
)
def test_phase_names(spec: WorkspaceSpec, mode: Any, cleanup_: str | None, names: list[str]) -> None:
    assert phase_names(spec, mode, RunOptions(cleanup=cleanup_)) == names


def test_a_succeeded_tuning_run_is_not_repeated() -> None:
    kube = FakeKube()
    output = {"volume": "pvc:tphi-adapter", "claimName": "tphi-adapter"}
    existing = store_record(kube, tune(), {"state": "Succeeded", "output": output})
    run = make_run(tune(), kube, existing=existing)
    assert already_succeeded(run) is True
    result = skip_succeeded(run)
    assert result["state"] == "Succeeded"
    assert result["output"] == output
    assert [(p["name"], p["status"], p["message"]) for p in result["phases"]] == [
        (name, SKIPPED, "already succeeded") for name in run.progress.order
    ]
    assert run.progress.reporter.messages == [  # type: ignore[attr-defined]
        ("info", f"tphi already succeeded; adapter: {json.dumps(output)} (--recreate to train again)")
    ]


@pytest.mark.parametrize(
    ("state", "changes", "spec", "expected"),
    [
        ("Failed", [], "tune", False),
        ("Succeeded", ["preset"], "tune", False),
        ("Succeeded", [], "deploy", False),
        (None, [], "tune", False),
    ],
)
def test_only_the_same_succeeded_tuning_run_is_skipped(
    state: str | None, changes: list[str], spec: str, expected: bool
) -> None:
    kube = FakeKube()
    the_spec = tune() if spec == "tune" else deploy()
    existing = store_record(kube, the_spec, {"state": state} if state else None)
    assert already_succeeded(make_run(the_spec, kube, existing=existing, changes=changes)) is expected
    assert already_succeeded(make_run(the_spec, kube)) is False


# ---- preflight -----------------------------------------------------------------------------------------------------


def gpu_pod(name: str, node: str, gpus: int, *, namespace: str = "other", labels: dict[str, str] | None = None) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": gpus}}}]},
        "status": {"phase": "Running"},
    }


def test_preflight_renders_the_objects() -> None:
    kube = FakeKube()
    objects = preflight(make_run(deploy(), kube), selector_choice(), helpers.catalog())
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "phi-workspace"),
        ("Service", "phi"),
        ("Service", "phi-headless"),
        ("StatefulSet", "phi"),
    ]
    assert kube.writes() == []


def test_preflight_refuses_nodes_whose_gpus_are_taken() -> None:
    kube = FakeKube()
    kube.put(gpu_pod("other-0", "gpu-1", 1))
    kube.put(gpu_pod("cpu-only", "gpu-1", 0))  # requests no GPU: not named
    with pytest.raises(InvalidInput) as refused:
        preflight(make_run(deploy(), kube), selector_choice(), helpers.catalog())
    assert refused.value.field == "--label"
    assert refused.value.problem == (
        "1 node(s) with 1 free nvidia.com/gpu needed, 0 found; gpu-1 (0 of 1 free, used by other/other-0)"
    )


def test_our_own_pods_keep_their_gpus_on_a_re_run() -> None:
    kube = FakeKube()
    kube.put(gpu_pod("phi-0", "gpu-1", 1, namespace=NS, labels={WORKSPACE_LABEL: "phi"}))
    kube.put(gpu_pod("done", "gpu-1", 1) | {"status": {"phase": "Succeeded"}})
    preflight(make_run(deploy(), kube), selector_choice(), helpers.catalog())
    (call,) = [c for c in kube.calls if c[0] == "list"]
    assert call == (
        "list",
        "/api/v1/pods",
        None,
        "spec.nodeName=gpu-1,status.phase!=Succeeded,status.phase!=Failed",
    )


def test_init_container_gpus_count_as_the_max_not_the_sum() -> None:
    kube = FakeKube()
    both = gpu_pod("init", "gpu-1", 0)
    both["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"nvidia.com/gpu": 1}}}]
    kube.put(both)
    two = gpu_node("gpu-1", labels=LABELS, gpus=2)
    preflight(make_run(deploy(), kube, where=selector_choice(two)), selector_choice(two), helpers.catalog())


def test_pool_mode_skips_the_node_capacity_check() -> None:
    kube = FakeKube()
    kube.put(gpu_pod("other-0", "gpu-1", 1))
    where = PlacementChoice("pool", aks_target=AksTarget("s", "rg", "aks"))
    preflight(make_run(deploy(), kube, where=where), where, helpers.catalog())
    assert [c for c in kube.calls if c[0] == "list"] == []


@pytest.mark.parametrize(
    ("spec", "objects", "field", "problem"),
    [
        (deploy(config="cfg"), [], "--config", "ConfigMap cfg in default does not exist"),
        (
            deploy(config="cfg"),
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": NS}, "data": {}}],
            "--config",
            "ConfigMap cfg in default has no inference_config.yaml",
        ),
        (
            tune(output_image="r.example/a:1", push_secret="push"),
            [],
            "--push-secret",
            "Secret push does not exist in default",
        ),
        (
            tune(output_image="r.example/a:1", push_secret="push"),
            [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "push", "namespace": NS}, "type": "Opaque"}],
            "--push-secret",
            "Secret push is of type Opaque, not kubernetes.io/dockerconfigjson",
        ),
        (deploy(model_access_secret="hf"), [], "--model-access-secret", "Secret hf in default does not exist"),
        (
            deploy(model_access_secret="hf"),
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "hf", "namespace": NS},
                    "data": {"X": "eA=="},
                }
            ],
            "--model-access-secret",
            "Secret hf in default has no key HF_TOKEN",
        ),
        (
            deploy(adapters=["a=pvc:adapters"]),
            [],
            "--adapter",
            "PersistentVolumeClaim adapters does not exist in default",
        ),
    ],
)
def test_references_must_exist_before_any_write(
    spec: WorkspaceSpec, objects: list[dict[str, Any]], field: str, problem: str
) -> None:
    kube = FakeKube()
    for obj in objects:
        kube.put(obj)
    with pytest.raises(InvalidInput) as refused:
        preflight(make_run(spec, kube), selector_choice(), helpers.catalog())
    assert (refused.value.field, refused.value.problem) == (field, problem)
    assert kube.writes() == []


def test_present_references_pass() -> None:
    kube = FakeKube()
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "push", "namespace": NS},
            "type": "kubernetes.io/dockerconfigjson",
        }
    )
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf", "namespace": NS},
            "data": {"HF_TOKEN": "eA=="},
        }
    )
    spec = tune(output_image="r.example/a:1", push_secret="push", model_access_secret="hf")
    objects = preflight(make_run(spec, kube), selector_choice(), helpers.catalog())
    assert [o["kind"] for o in objects] == ["ConfigMap", "ConfigMap", "Job"]
    kube.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "adapters", "namespace": NS}})
    objects = preflight(make_run(deploy(adapters=["a=pvc:adapters"]), kube), selector_choice(), helpers.catalog())
    assert [o["kind"] for o in objects][-1] == "StatefulSet"


def test_a_user_training_config_decides_the_output_dir() -> None:
    kube = FakeKube()
    config = "training_config:\n  TrainingArguments:\n    output_dir: /mnt/out\n"
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "train", "namespace": NS},
            "data": {"training_config.yaml": config},
        }
    )
    objects = preflight(make_run(tune(config="train", method="lora"), kube), selector_choice(), helpers.catalog())
    job = next(o for o in objects if o["kind"] == "Job")
    assert "/mnt/out" in json.dumps(job)


# ---- writes --------------------------------------------------------------------------------------------------------


def namespace(name: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_dry_run_of_every_object_when_the_namespace_exists() -> None:
    kube = FakeKube()
    kube.put(namespace())
    run = make_run(deploy(), kube)
    objects = preflight(run, selector_choice(), helpers.catalog())
    assert server_dry_run(run, objects) is True
    assert sorted(c for c in kube.calls if c[0] == "apply") == [  # sent together: any order
        ("apply", "/api/v1/namespaces/default/configmaps/phi-workspace", "kaitoctl", "dry-run"),
        ("apply", "/api/v1/namespaces/default/services/phi", "kaitoctl", "dry-run"),
        ("apply", "/api/v1/namespaces/default/services/phi-headless", "kaitoctl", "dry-run"),
        ("apply", "/apis/apps/v1/namespaces/default/statefulsets/phi", "kaitoctl", "dry-run"),
    ]
    assert kube.writes() == []


def test_no_dry_run_without_the_namespace_or_when_recreating() -> None:
    kube = FakeKube()
    run = make_run(deploy(), kube)
    objects = preflight(run, selector_choice(), helpers.catalog())
    assert server_dry_run(run, objects) is False
    kube.put(namespace())
    recreating = make_run(deploy(), kube, RunOptions(recreate=True), changes=["preset"])
    assert server_dry_run(recreating, objects) is True
    assert [c for c in kube.calls if c[0] == "apply"] == []


def test_a_refused_dry_run_writes_nothing() -> None:
    kube = FakeKube(fail_apply={"/apis/apps/v1/namespaces/default/statefulsets/phi": OperationFailed("invalid")})
    kube.put(namespace())
    run = make_run(deploy(), kube)
    objects = preflight(run, selector_choice(), helpers.catalog())
    with pytest.raises(OperationFailed):
        write_and_wait(run, objects, {})
    assert kube.writes() == []


def test_make_room_creates_the_namespace() -> None:
    kube = FakeKube()
    make_room(make_run(deploy(), kube), namespace_exists=False)
    assert kube.writes() == [("ensure_namespace", NS)]
    kube.calls.clear()
    make_room(make_run(deploy(), kube), namespace_exists=True)
    assert kube.writes() == []


def test_recreate_deletes_the_old_workspace_but_keeps_the_adapter_volume() -> None:
    kube = FakeKube()
    existing = store_record(kube, deploy())
    run = make_run(deploy(count=2), kube, RunOptions(recreate=True, timeout_s=5), existing=existing, changes=["x"])
    make_room(run, namespace_exists=True)
    deletes = [c for c in kube.writes() if c[0] == "delete"]
    assert deletes == [("delete", "/api/v1/namespaces/default/configmaps/phi-workspace", "Background")]
    assert [c[1] for c in kube.calls if c[0] == "list" and "persistentvolumeclaims" in c[1]] == []
    assert status(run, APPLY) == (RUNNING, "", "recreating: deleting the old workspace")


@pytest.mark.parametrize(
    ("state", "changed", "deletes"),
    [
        ("Failed", False, True),
        ("Running", True, True),
        ("Running", False, False),
    ],
)
def test_a_changed_or_failed_tuning_job_is_replaced(state: str, changed: bool, deletes: bool) -> None:
    kube = FakeKube()
    existing = store_record(kube, tune(), {"state": state})
    spec = tune(input_urls=["https://example.com/other.parquet"]) if changed else tune()
    run = make_run(spec, kube, RunOptions(timeout_s=5), existing=existing)
    make_room(run, namespace_exists=True)
    expected = [("delete", "/apis/batch/v1/namespaces/default/jobs/tphi", "Foreground")] if deletes else []
    assert kube.writes() == expected


def test_still_deleting_after_the_timeout_fails() -> None:
    kube = FakeKube()
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "tphi-old",
                "namespace": NS,
                "labels": {WORKSPACE_LABEL: "tphi", "app.kubernetes.io/managed-by": "kaitoctl"},
            },
        }
    )
    existing = store_record(kube, tune(), {"state": "Failed"})
    run = make_run(tune(), kube, RunOptions(timeout_s=0.3), existing=existing)
    with pytest.raises(OperationFailed) as failed:
        make_room(run, namespace_exists=True)
    assert failed.value.reason == "Deleting"
    assert failed.value.message == "still being deleted: Pod/tphi-old"


def test_apply_applies_every_object_in_order() -> None:
    kube = FakeKube()
    run = make_run(deploy(), kube)
    objects = preflight(run, selector_choice(), helpers.catalog())
    assert apply_objects(run, objects) == [
        "ConfigMap/phi-workspace",
        "Service/phi",
        "Service/phi-headless",
        "StatefulSet/phi",
    ]
    assert kube.writes() == [
        ("apply", "/api/v1/namespaces/default/configmaps/phi-workspace", "kaitoctl", "write"),
        ("apply", "/api/v1/namespaces/default/services/phi", "kaitoctl", "write"),
        ("apply", "/api/v1/namespaces/default/services/phi-headless", "kaitoctl", "write"),
        ("apply", "/apis/apps/v1/namespaces/default/statefulsets/phi", "kaitoctl", "write"),
    ]
    assert status(run, APPLY) == (DONE, "Applied", "4 object(s)")


def test_wait_target_carries_the_phase_budgets_or_the_timeout() -> None:
    target = wait_target(make_run(deploy()))
    assert (target.name, target.namespace, target.mode, target.main_container) == ("phi", NS, "inference", "phi")
    assert target.deadline is None
    assert target.phase_timeouts[cond.RESOURCE_READY] == run_mod.RESOURCE_TIMEOUT_EXISTING_S == 300
    assert target.phase_timeouts[cond.JOB_STARTED] == run_mod.JOB_START_TIMEOUT_S
    assert target.phase_timeouts[cond.WORKSPACE_SUCCEEDED] == run_mod.TUNING_TIMEOUT_S
    plan = make_run(deploy()).plan
    from kaitoctl.core.sizing import readiness_timeout_s

    assert target.phase_timeouts[cond.INFERENCE_READY] == readiness_timeout_s(plan.preset.weights_gib) + 600
    pool = make_run(deploy(), where=PlacementChoice("pool", aks_target=AksTarget("s", "rg", "aks")))
    assert wait_target(pool).phase_timeouts[cond.RESOURCE_READY] == run_mod.RESOURCE_TIMEOUT_POOL_S == 1800
    timed = make_run(deploy(), opts=RunOptions(no_pool=True, timeout_s=30))
    timed.started = 100.0
    assert wait_target(timed).deadline == 130.0


def test_no_wait_skips_the_phases_after_apply() -> None:
    run = make_run(deploy())
    run.progress.done(APPLY)
    skip_wait(run)
    assert [(r.name, r.status, r.message) for r in run.progress.records.values()] == [
        (APPLY, DONE, ""),
        (cond.RESOURCE_READY, SKIPPED, "--no-wait"),
        (cond.INFERENCE_READY, SKIPPED, "--no-wait"),
        (cond.WORKSPACE_SUCCEEDED, SKIPPED, "--no-wait"),
    ]


# ---- wait, result, cleanup -----------------------------------------------------------------------------------------


class FailingWaiter:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self) -> WaitOutcome:
        raise self.error


def recorded_status(kube: FakeKube, name: str) -> dict[str, Any]:
    record = kube.obj(f"/api/v1/namespaces/{NS}/configmaps/{name}-workspace")
    assert record is not None
    return dict(json.loads(record["data"]["status.json"]))


def test_a_failed_tuning_wait_is_recorded_and_cleaned_up_with_cleanup_always() -> None:
    kube = FakeKube()
    existing = store_record(kube, tune(), {"state": "Running", "startedAt": "t0"})
    kube.calls.clear()
    run = make_run(tune(), kube, RunOptions(no_pool=True, cleanup="always"), existing=existing)
    with pytest.raises(OperationFailed):
        wait(run, FailingWaiter(OperationFailed("JobFailed: x", reason="JobFailed")))  # type: ignore[arg-type]
    state = recorded_status(kube, "tphi")
    assert (state["state"], state["startedAt"]) == ("Failed", "t0")
    assert kube.writes() == [
        ("apply", "/api/v1/namespaces/default/configmaps/tphi-workspace", STATUS_FIELD_MANAGER, "write"),
        ("delete", "/apis/batch/v1/namespaces/default/jobs/tphi", "Background"),
        ("delete", "/api/v1/namespaces/default/configmaps/tphi-params", "Background"),
        # cleanup recorded as done (issue 10: a pending cleanup is finished by a re-run)
        ("apply", "/api/v1/namespaces/default/configmaps/tphi-workspace", STATUS_FIELD_MANAGER, "write"),
    ]


def test_a_failed_tuning_wait_keeps_the_job_without_cleanup_always() -> None:
    kube = FakeKube()
    store_record(kube, tune())
    kube.calls.clear()
    run = make_run(tune(), kube, RunOptions(no_pool=True, cleanup="on-success"))
    with pytest.raises(OperationFailed):
        wait(run, FailingWaiter(OperationFailed("x")))  # type: ignore[arg-type]
    assert [c[0] for c in kube.writes()] == ["apply"]


def test_a_failed_inference_wait_writes_nothing() -> None:
    kube = FakeKube()
    run = make_run(deploy(), kube, RunOptions(no_pool=True, cleanup="always"))
    with pytest.raises(OperationFailed):
        wait(run, FailingWaiter(OperationFailed("x")))  # type: ignore[arg-type]
    assert kube.writes() == []


def test_a_timeout_is_not_recorded_as_failed() -> None:
    from kaitoctl.core.errors import WaitTimeout

    kube = FakeKube()
    run = make_run(tune(), kube)
    with pytest.raises(WaitTimeout):
        wait(run, FailingWaiter(WaitTimeout("JobStarted", 5)))  # type: ignore[arg-type]
    assert kube.writes() == []


def test_conclude_inference_reports_the_endpoint() -> None:
    kube = FakeKube()
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "phi", "namespace": NS},
            "spec": {"clusterIP": "10.0.0.7"},
        }
    )
    result = conclude(make_run(deploy(adapters=["ad=r.example/ad:1"]), kube), WaitOutcome())
    assert result == {
        "state": "Ready",
        "endpoint": {
            "service": "phi",
            "clusterIP": "10.0.0.7",
            "port": 80,
            "url": "http://phi.default.svc.cluster.local:80",
            "model": "phi-3-mini-128k-instruct",
            "adapters": ["ad"],
            "chat": 'kaitoctl chat --workspace phi -n default "..."',
        },
    }
    assert kube.writes() == []


def test_conclude_tuning_records_the_adapter_and_steps() -> None:
    kube = FakeKube()
    store_record(kube, tune(), {"startedAt": "t0"})
    result = conclude(
        make_run(tune(), kube, existing=cluster.get_record(kube, NS, "tphi-workspace")), WaitOutcome((9, 10))
    )
    output = {"volume": "pvc:tphi-adapter", "claimName": "tphi-adapter", "trainingSteps": 10}
    assert result == {"state": "Succeeded", "output": output}
    state = recorded_status(kube, "tphi")
    assert (state["state"], state["output"], state["startedAt"]) == ("Succeeded", output, "t0")
    assert set(state) == {"state", "output", "startedAt", "finishedAt"}


def test_conclude_without_steps_records_no_step_count() -> None:
    kube = FakeKube()
    store_record(kube, tune())
    assert conclude(make_run(tune(), kube), WaitOutcome())["output"] == {
        "volume": "pvc:tphi-adapter",
        "claimName": "tphi-adapter",
    }


def test_an_unchanged_status_is_not_rewritten() -> None:
    kube = FakeKube()
    run = make_run(tune(), kube)
    run_mod._write_status(kube, run.plan, {"state": "Failed", "x": 1}, {"state": "Failed"})
    assert kube.writes() == []


def test_cleanup_keeps_a_user_config_and_the_record() -> None:
    kube = FakeKube()
    run = make_run(tune(config="mine"), kube, RunOptions(no_pool=True, cleanup="on-success"))
    cleanup(run)
    assert kube.writes() == [
        ("delete", "/apis/batch/v1/namespaces/default/jobs/tphi", "Background"),
        ("apply", "/api/v1/namespaces/default/configmaps/tphi-workspace", STATUS_FIELD_MANAGER, "write"),
    ]
    assert status(run, CLEANUP) == (DONE, "Cleaned", "tuning Job removed; the adapter and the workspace record stay")


def test_interrupted_fails_the_running_phase() -> None:
    run = make_run(deploy())
    run.progress.start(cond.RESOURCE_READY)
    error = interrupted(run)
    assert isinstance(error, Interrupted)
    assert error.message == "interrupted during ResourceReady; what was applied stays in the cluster"
    assert error.hint == "re-run the same command to continue, or `kaitoctl delete phi -n default`"
    assert status(run, cond.RESOURCE_READY) == (FAILED, "Interrupted", "Ctrl-C")
    fresh = make_run(deploy())
    assert interrupted(fresh).message.startswith("interrupted during Apply;")


def test_ctrl_c_during_apply_reports_the_phases() -> None:
    kube = FakeKube(fail_apply={"/api/v1/namespaces/default/services/phi": KeyboardInterrupt()})
    run = make_run(deploy(), kube)
    objects = preflight(run, selector_choice(), helpers.catalog())
    result: dict[str, Any] = {}
    with pytest.raises(Interrupted):
        write_and_wait(run, objects, result)
    assert [(p["name"], p["status"], p["reason"]) for p in result["phases"]] == [
        (APPLY, FAILED, "Interrupted"),
        (cond.RESOURCE_READY, PENDING, None),
        (cond.INFERENCE_READY, PENDING, None),
        (cond.WORKSPACE_SUCCEEDED, PENDING, None),
    ]
    assert "objects" not in result


# ---- the whole run against the fake cluster ------------------------------------------------------------------------


def cluster_with_node(*hooks: Any) -> FakeKube:
    kube = FakeKube(on_apply=list(hooks))
    kube.put(gpu_node("gpu-1", labels=LABELS))
    return kube


def test_deploy_end_to_end() -> None:
    kube = cluster_with_node(statefulset_controller)
    reporter = RecordingReporter()
    result = run_workspace(deploy(), RunOptions(no_pool=True), helpers.catalog(), reporter, kube=kube)
    assert (result["workspace"], result["namespace"], result["action"], result["state"]) == (
        "phi",
        NS,
        "deploy",
        "Ready",
    )
    assert result["objects"] == ["ConfigMap/phi-workspace", "Service/phi", "Service/phi-headless", "StatefulSet/phi"]
    assert [(p["name"], p["status"]) for p in result["phases"]] == [
        (APPLY, DONE),
        (cond.RESOURCE_READY, DONE),
        (cond.INFERENCE_READY, DONE),
        (cond.WORKSPACE_SUCCEEDED, DONE),
    ]
    assert result["endpoint"]["url"] == "http://phi.default.svc.cluster.local:80"
    assert (result["plan"]["instanceType"], result["plan"]["instanceTypeChoice"]) == (A100, "the chosen nodes'")
    assert result["plan"]["placement"] == {"mode": "selector", "pool": None, "nodeNames": []}
    assert isinstance(result["durationSeconds"], float)
    assert kube.writes()[0] == ("ensure_namespace", NS)


def test_a_second_identical_deploy_dry_runs_then_applies_the_same() -> None:
    kube = cluster_with_node(statefulset_controller)
    run_workspace(deploy(), RunOptions(no_pool=True), helpers.catalog(), RecordingReporter(), kube=kube)
    kube.calls.clear()
    result = run_workspace(deploy(), RunOptions(no_pool=True), helpers.catalog(), RecordingReporter(), kube=kube)
    assert result["state"] == "Ready"
    applies = [c for c in kube.calls if c[0] == "apply"]
    assert [c[3] for c in applies] == ["dry-run"] * 4 + ["write"] * 4


def test_tune_end_to_end_with_cleanup() -> None:
    kube = cluster_with_node(job_controller)
    opts = RunOptions(no_pool=True, cleanup="on-success")
    result = run_workspace(tune(), opts, helpers.catalog(), RecordingReporter(), kube=kube)
    assert (result["action"], result["state"]) == ("tune", "Succeeded")
    assert result["output"] == {"volume": "pvc:tphi-adapter", "claimName": "tphi-adapter"}
    assert [p["name"] for p in result["phases"]][-1] == CLEANUP
    assert kube.obj("/apis/batch/v1/namespaces/default/jobs/tphi") is None
    assert recorded_status(kube, "tphi")["state"] == "Succeeded"
    # A re-run changes nothing: the record says it succeeded.
    kube.calls.clear()
    again = run_workspace(tune(), opts, helpers.catalog(), RecordingReporter(), kube=kube)
    assert again["state"] == "Succeeded"
    assert kube.writes() == []


def test_no_wait_returns_after_apply() -> None:
    kube = cluster_with_node()
    result = run_workspace(
        deploy(), RunOptions(no_pool=True, no_wait=True), helpers.catalog(), RecordingReporter(), kube=kube
    )
    assert "state" not in result
    assert "durationSeconds" not in result
    assert [p["status"] for p in result["phases"]] == [DONE, SKIPPED, SKIPPED, SKIPPED]


def test_a_blocked_plan_writes_nothing_and_reports_the_plan() -> None:
    kube = cluster_with_node()
    result: dict[str, Any] = {}
    spec = helpers.deploy_spec(
        "llama-3.3-70b-instruct", name="big", labels=["apps=phi"], model_access_secret="hf-token"
    )
    with pytest.raises(InvalidInput):
        run_workspace(spec, RunOptions(no_pool=True, result=result), helpers.catalog(), RecordingReporter(), kube=kube)
    assert "plan" in result
    assert kube.writes() == []


def test_spec_blockers_are_raised_before_anything_is_read() -> None:
    kube = cluster_with_node()
    kube.calls.clear()
    with pytest.raises(InvalidInput) as refused:
        run_workspace(
            deploy(instance_type="Standard_Bogus_v9"),
            RunOptions(no_pool=True),
            helpers.catalog(),
            RecordingReporter(),
            kube=kube,
        )
    assert refused.value.field == "--instance-type"
    assert kube.calls == []


def test_the_context_namespace_is_used_without_n() -> None:
    kube = cluster_with_node(statefulset_controller)
    kube.context.namespace = "team"
    spec = helpers.deploy_spec("phi-3", name="phi", labels=["apps=phi"])
    result = run_workspace(spec, RunOptions(no_pool=True), helpers.catalog(), RecordingReporter(), kube=kube)
    assert result["namespace"] == "team"
    assert kube.writes()[0] == ("ensure_namespace", "team")


def test_a_failed_run_whose_cleanup_always_fails_keeps_the_cleanup_pending() -> None:
    """Issue 10 item 2: `delete` or a re-run must still see the pool as not released."""
    from kaitoctl.core.errors import CloudError

    class FailingPool:
        def release(self, plan: Any, *, keep_pool: bool = False) -> str:
            raise CloudError("the delete failed", code="InternalServerError")

    kube = FakeKube()
    existing = store_record(kube, tune(), {"state": "Running"})
    run = make_run(tune(), kube, RunOptions(no_pool=True, cleanup="always"), existing=existing)
    run.pool = FailingPool()  # type: ignore[assignment]
    with pytest.raises(CloudError):
        wait(run, FailingWaiter(OperationFailed("JobFailed: x", reason="JobFailed")))  # type: ignore[arg-type]
    state = recorded_status(kube, "tphi")
    assert (state["state"], state["cleanup"]) == ("Failed", "pending")
