"""Conditions and diagnosis from plain status objects (the shapes the API server returns; the e2e suites produce
the same objects for real with kwok)."""

from __future__ import annotations

from typing import Any

from kaitoctl.core import conditions as cond
from kaitoctl.core.conditions import PlacementInfo
from tests.unit.helpers import catalog


def node(name: str, *, ready: bool = True, gpus: int | None = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    allocatable = {"cpu": "24"} | ({"nvidia.com/gpu": str(gpus)} if gpus is not None else {})
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": status}


POOL = PlacementInfo(mode="pool", node_count=1, gpus_per_node=1, instance_type="x", pool="kc1", selector={"w": "a"})


def test_resource_ready_needs_ready_nodes_with_gpus() -> None:
    assert cond.resource_ready(POOL, []).reason == "NodeNotReady"
    assert cond.resource_ready(POOL, [node("n", labels={"w": "a"}, gpus=None)]).reason == "NodePluginsNotReady"
    assert not cond.resource_ready(POOL, [node("n", labels={"w": "a"}, ready=False)]).true
    assert not cond.resource_ready(POOL, [node("other", labels={"w": "b"})]).true  # not this workspace's node
    assert cond.resource_ready(POOL, [node("n", labels={"w": "a"})]).true
    named = PlacementInfo(mode="nodes", node_count=1, gpus_per_node=1, instance_type="x", node_names=("n",))
    assert named.label_selector() is None and cond.resource_ready(named, [node("n")]).true


def test_node_sku_from_instance_type_or_feature_discovery() -> None:
    known = node("a", labels={"node.kubernetes.io/instance-type": "standard_nc24ads_a100_v4"})
    assert cond.node_sku(known, catalog()).name == "Standard_NC24ads_A100_v4"
    gfd = node("b", labels={"nvidia.com/gpu.count": "2", "nvidia.com/gpu.memory": "49152", "nvidia.com/gpu.product": "NVIDIA-L40S"})
    sku = cond.node_sku(gfd, catalog())
    assert sku is not None and (sku.gpus, sku.gpu_memory_gib) == (2, 48)
    assert cond.node_sku(node("c"), catalog()) is None


def test_unschedulable_is_not_terminal_by_itself() -> None:
    pending = pod("w-0", phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}])
    found = cond.diagnose("inference", None, [pending], "w")
    assert found is not None and (found.reason, found.message, found.terminal) == ("Unschedulable", "0/3 nodes", False)


def test_waiting_reasons_and_oom() -> None:
    pull = pod("w-0", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}])
    assert cond.diagnose("inference", None, [pull], "w").terminal
    first_pull = pod("w-0", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": "ErrImagePull"}}}])
    assert not cond.diagnose("inference", None, [first_pull], "w").terminal
    crash = pod(
        "w-0",
        containerStatuses=[{"name": "w", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 3}}}],
    )
    found = cond.diagnose("inference", None, [crash], "w")
    assert found.reason == "CrashLoopBackOff" and found.previous_logs and "exit code 3, 3 restarts" in found.message
    oom = pod("w-0", containerStatuses=[{"name": "w", "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}])
    assert cond.diagnose("inference", None, [oom], "w").reason == "OOMKilled"


def test_a_failed_tuning_pod_is_a_failed_job() -> None:
    failed = pod("t-abc", phase="Failed", containerStatuses=[{"name": "t", "state": {"terminated": {"exitCode": 1}}}])
    found = cond.diagnose("tuning", {"status": {}}, [failed], "t")
    assert found.reason == "JobFailed" and found.terminal and found.log_container == "t"
    job = {"status": {"conditions": [{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    assert cond.job_failed(job) and cond.diagnose("tuning", job, [], "t").reason == "JobFailed"
    assert cond.job_started(job, []).reason == "WorkspaceTuningJobStatusFailed"


def test_job_phases() -> None:
    assert cond.job_started(None, []).status == "Unknown"
    assert not cond.job_started({"status": {}}, [pod("t", phase="Pending")]).true
    assert cond.job_started({"status": {}}, [pod("t", phase="Running")]).true
    done = {"status": {"succeeded": 1}}
    assert cond.job_succeeded(done) and cond.workspace_succeeded("tuning", done, []).true


def test_inference_ready_counts_ready_pods_against_replicas() -> None:
    sts = {"spec": {"replicas": 2}}
    ready = pod("w-0", conditions=[{"type": "Ready", "status": "True"}])
    assert not cond.inference_ready(sts, [ready]).true
    assert cond.inference_ready(sts, [ready, {**ready, "metadata": {"name": "w-1"}}]).true
    assert cond.inference_ready(None, []).status == "Unknown"


def test_newest_warning_and_scheduler_message_win() -> None:
    events = [
        {"involvedObject": {"kind": "StatefulSet", "name": "w"}, "reason": "FailedCreate", "message": "old", "lastTimestamp": "2026-01-01T00:00:00Z"},
        {"involvedObject": {"kind": "StatefulSet", "name": "w"}, "reason": "FailedCreate", "message": "new", "lastTimestamp": "2026-01-01T00:00:05Z"},
        {"involvedObject": {"kind": "StatefulSet", "name": "other"}, "reason": "FailedCreate", "message": "x", "lastTimestamp": "2026-01-02T00:00:00Z"},
        {"involvedObject": {"kind": "Pod", "name": "w-0"}, "reason": "FailedScheduling", "message": "0/2 nodes: taint", "lastTimestamp": "2026-01-01T00:00:01Z"},
    ]
    assert cond.workload_warning(events, "w") == ("FailedCreate", "new")
    assert cond.workload_warning(events, "nope") is None
    assert cond.scheduler_message(events, "w-0") == "0/2 nodes: taint"
