"""What a run asks and refuses, word for word (ops/run.py): the consent questions for creating, scaling and
re-creating, the fix of a run with nowhere to go, a missing ConfigMap key, and what a --recreate waits for."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.errors import Declined, InvalidInput
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.run import check_placement_possible, preflight, resolve_placement, run_workspace
from tests.unit import helpers
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node
from tests.unit.test_consent import AZURE, listed_price, run  # noqa: F401  (listed_price: a cached price)
from tests.unit.test_ops_run import LABELS, deploy, gpu_pod, make_run, selector_choice


def pool_of(kube: FakeKube) -> str:
    from kaitoctl.ops import cluster

    record = cluster.get_record(kube, "default", "phi-workspace")
    assert record is not None and record.placement is not None and record.placement.pool
    return record.placement.pool


def test_the_question_before_creating_a_pool_names_it_its_size_and_price() -> None:
    kube, _, asked, _ = run([True])
    assert asked == [f"create AKS agent pool {pool_of(kube)}: 1 × Standard_NC24ads_A100_v4, $3.67/h"]


def test_the_question_before_scaling_a_pool_up_again() -> None:
    kube, aks, _, _ = run([True])
    pool = pool_of(kube)
    aks.pools[pool]["properties"]["count"] = 0  # scaled down (e.g. by a stop) since
    asked: list[str] = []
    spec = helpers.deploy_spec("phi-3", name="phi", namespace="default", instance_type="Standard_NC24ads_A100_v4")
    opts = RunOptions(confirm=lambda q: asked.append(q) or False, **AZURE)
    with pytest.raises(Declined):
        run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert asked == [f"scale AKS agent pool {pool}: 1 × Standard_NC24ads_A100_v4, $3.67/h"]


def test_the_recreate_question_lists_what_it_deletes() -> None:
    kube, aks, _, _ = run([True])
    spec = helpers.deploy_spec(
        "phi-3", name="phi", namespace="default", instance_type="Standard_NC24ads_A100_v4", labels=["apps=x"]
    )
    asked: list[str] = []
    opts = RunOptions(confirm=lambda q: asked.append(q) or False, recreate=True, **AZURE)
    with pytest.raises(Declined):
        run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert asked[0] == (
        "--recreate deletes workspace phi in namespace default (ConfigMap/phi-workspace, Service/phi, "
        "Service/phi-headless, StatefulSet/phi) and creates it again (resource.labelSelector ({} → {'apps': 'x'}))"
    )


def test_a_run_with_nowhere_to_go_says_both_ways_out() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_placement_possible(deploy(labels=[]), RunOptions(), FakeKube())
    assert refused.value.fix == (
        "use an AKS kube context or pass --resource-group and --cluster; or run on existing GPU nodes with "
        "--node NAME, or --label KEY=VALUE --no-pool"
    )


def test_a_configmap_without_the_key_says_which_key_to_add() -> None:
    kube = FakeKube()
    kube.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {}})
    with pytest.raises(InvalidInput) as refused:
        preflight(make_run(deploy(config="cfg"), kube), selector_choice(), helpers.catalog())
    assert refused.value.fix == "create it with a key inference_config.yaml"


def test_a_recreate_waits_only_for_its_own_workload_and_pods() -> None:
    kube, aks, _, _ = run([True])
    other = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "other-0",
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "kaitoctl", "kaitoctl.io/workspace": "other"},
        },
        "status": {"phase": "Running"},
    }
    kube.put(other)  # another workspace's pod stays: the re-created one must not wait for it
    spec = helpers.deploy_spec(
        "phi-3", name="phi", namespace="default", instance_type="Standard_NC24ads_A100_v4", labels=["apps=x"]
    )
    opts = RunOptions(yes=True, recreate=True, timeout_s=3, **AZURE)
    result = run_workspace(spec, opts, helpers.catalog(), RecordingReporter(), kube=kube, aks=lambda _: aks)
    assert result["state"] == "Ready"
    assert kube.obj("/api/v1/namespaces/default/pods/other-0") is not None


# ---- existing nodes: every refusal with its fix ----------------------------------------------------------------


def refused_placement(spec: WorkspaceSpec, *nodes: dict[str, Any]) -> tuple[str, str, str | None]:
    kube = FakeKube()
    for node in nodes:
        kube.put(node)
    with pytest.raises(InvalidInput) as refused:
        resolve_placement(spec, RunOptions(), kube, helpers.catalog())
    return refused.value.field, refused.value.problem, refused.value.fix


def test_named_nodes_that_are_not_ready_are_named() -> None:
    nodes = [gpu_node(n, labels=LABELS, ready=False) for n in ("gpu-1", "gpu-2")]
    assert refused_placement(deploy(nodes=["gpu-1", "gpu-2"]), *nodes) == (
        "--node",
        "node(s) not Ready: gpu-1, gpu-2",
        "pick Ready nodes",
    )


def test_labelled_nodes_none_ready_or_none_matching() -> None:
    assert refused_placement(deploy(), gpu_node("gpu-1", labels=LABELS, ready=False)) == (
        "--label",
        "none of the matching nodes is Ready",
        "check `kubectl get nodes`",
    )
    assert refused_placement(deploy(), gpu_node("gpu-1")) == (
        "--label",
        "no node matches the label selector {'apps': 'phi'}",
        "label your GPU nodes, or choose nodes with --node",
    )


def test_nodes_of_unknown_gpus_are_named_with_the_labels_that_would_tell() -> None:
    nodes = [gpu_node(n, labels=LABELS, instance_type="Standard_D4s_v5") for n in ("cpu-a", "cpu-b")]
    assert refused_placement(deploy(), *nodes) == (
        "--label",
        "cannot tell the GPUs of node(s) cpu-a, cpu-b: no known instance type and no NVIDIA feature-discovery labels "
        "(nvidia.com/gpu.count, nvidia.com/gpu.memory)",
        "install GPU feature discovery, or use nodes of a known Azure GPU size",
    )


def test_busy_nodes_name_every_pod_that_holds_their_gpus() -> None:
    kube = FakeKube()
    pod = gpu_pod("a", "gpu-1", 1)
    pod["spec"]["containers"].append({"name": "sidecar"})  # no GPU request: holds none
    kube.put(pod)
    kube.put(gpu_pod("b", "gpu-1", 1))
    node = gpu_node("gpu-1", labels=LABELS, gpus=2)
    with pytest.raises(InvalidInput) as refused:
        preflight(make_run(deploy(), kube), selector_choice(node), helpers.catalog())
    assert refused.value.problem == (
        "1 node(s) with 1 free nvidia.com/gpu needed, 0 found; gpu-1 (0 of 2 free, used by other/a, other/b)"
    )


def test_only_the_first_16_candidate_nodes_are_read() -> None:
    kube = FakeKube()
    nodes = [gpu_node(f"gpu-{i:02}", labels=LABELS) for i in range(17)]
    for i in range(16):
        kube.put(gpu_pod(f"p{i:02}", f"gpu-{i:02}", 1))
    with pytest.raises(InvalidInput) as refused:
        preflight(make_run(deploy(), kube), selector_choice(*nodes), helpers.catalog())
    assert refused.value.problem.startswith("1 node(s) with 1 free nvidia.com/gpu needed, 0 found; gpu-00 (0 of 1")
    assert "gpu-16" not in refused.value.problem
    assert [c[3] for c in kube.calls if c[0] == "list"] == [
        f"spec.nodeName=gpu-{i:02},status.phase!=Succeeded,status.phase!=Failed" for i in range(16)
    ]
