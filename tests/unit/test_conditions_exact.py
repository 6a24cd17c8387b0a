"""Conditions computed from status objects, each branch with its exact status, reason and message: terminating
pods and nodes do not count, a node without the device plugin is named as such, a Job's FailureTarget is a failure."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core import conditions as cond
from kaitoctl.core.conditions import Condition, PlacementInfo
from tests.unit.helpers import catalog

TERMINATING = {"deletionTimestamp": "2026-01-01T00:00:00Z"}


def node(
    name: str, *, ready: bool = True, gpus: Any = "1", labels: dict[str, str] | None = None, **meta: Any
) -> dict[str, Any]:
    allocatable = {"cpu": "24"} | ({"nvidia.com/gpu": gpus} if gpus is not None else {})
    return {
        "metadata": {"name": name, "labels": labels or {}, **meta},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def ready_pod(name: str, ready: bool = True, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def sts(replicas: int | None) -> dict[str, Any]:
    return {"metadata": {"name": "w"}, "spec": {"replicas": replicas}}


POOL2 = PlacementInfo(mode="pool", node_count=2, gpus_per_node=2, instance_type="x", pool="kc1", selector={"w": "a"})


def test_resource_ready_messages() -> None:
    mine = {"w": "a"}
    assert cond.resource_ready(
        POOL2, [node("a", labels=mine, gpus="2"), node("b", labels=mine, gpus="4")]
    ) == Condition("ResourceReady", "True", "NodesReady", "2/2 node(s) ready with GPUs")
    one_short = [node("a", labels=mine, gpus="2"), node("b", labels=mine, gpus="1")]  # 1 < 2 GPUs per node
    assert cond.resource_ready(POOL2, one_short) == Condition(
        "ResourceReady",
        "False",
        "NodePluginsNotReady",
        "1 ready node(s) advertise no nvidia.com/gpu yet (NVIDIA device plugin)",
    )
    assert cond.resource_ready(POOL2, [node("a", labels=mine, gpus="2"), node("x", gpus="2")]) == Condition(
        "ResourceReady", "False", "NodeNotReady", "1/2 pool kc1 ready with GPUs (1 present)"
    )
    selector = PlacementInfo(mode="selector", node_count=1, gpus_per_node=1, instance_type=None, selector=mine)
    assert cond.resource_ready(selector, []).message == "0/1 matching nodes ready with GPUs (0 present)"
    named = PlacementInfo(mode="nodes", node_count=1, gpus_per_node=1, instance_type=None, node_names=("n",))
    assert cond.resource_ready(named, [node("m")]).message == "0/1 named nodes ready with GPUs (0 present)"


def test_a_terminating_or_unready_node_is_not_ready() -> None:
    assert cond.node_ready(node("n"))
    assert not cond.node_ready(node("n", **TERMINATING))
    assert not cond.node_ready(node("n", ready=False))
    assert not cond.node_ready(
        {"metadata": {"name": "n"}, "status": {"conditions": [{"type": "DiskPressure", "status": "True"}]}}
    )
    assert not cond.node_ready({"metadata": {"name": "n"}, "status": {}})


@pytest.mark.parametrize(("value", "count"), [("2", 2), (4, 4), (None, 0), ("2Gi", 0), ("", 0)])
def test_quantities(value: Any, count: int) -> None:
    assert cond.node_gpus(node("n", gpus=value)) == count


def test_node_sku_from_instance_type_then_gpu_feature_discovery() -> None:
    cat = catalog()
    typed = node("a", labels={"node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4"})
    assert cond.node_sku(typed, cat) == cat.sku("Standard_NC24ads_A100_v4")
    gfd = node(
        "b",
        labels={"nvidia.com/gpu.count": "2", "nvidia.com/gpu.memory": "49152", "nvidia.com/gpu.product": "NVIDIA-L40S"},
    )
    gfd["status"]["capacity"] = {"cpu": "48"}
    sku = cond.node_sku(gfd, cat)
    assert sku is not None
    assert (sku.name, sku.gpus, sku.gpu_model, sku.gpu_memory_gib, sku.vcpus) == (
        "byo-NVIDIA-L40S",
        2,
        "NVIDIA L40S",
        48,
        48,
    )
    assert (sku.status, sku.gfd_product) == ("current", "NVIDIA-L40S")
    unknown_type = node(
        "c",
        labels={
            "node.kubernetes.io/instance-type": "Standard_X",
            "nvidia.com/gpu.count": "1",
            "nvidia.com/gpu.memory": "1024",
        },
    )
    named = cond.node_sku(unknown_type, cat)
    assert named is not None and named.name == "Standard_X" and named.gpu_memory_gib == 1
    assert cond.node_sku(node("d", labels={"nvidia.com/gpu.count": "1"}), cat) is None  # no memory label
    assert cond.node_sku(node("e", labels={"nvidia.com/gpu.memory": "1024"}), cat) is None  # no count label


def test_terminating_pods_are_not_counted_ready() -> None:
    assert cond.inference_ready(sts(2), [ready_pod("w-0"), ready_pod("w-1", **TERMINATING)]) == Condition(
        "InferenceReady", "False", "WorkspaceInferenceStatusPending", "1/2 pod(s) ready"
    )
    assert cond.inference_ready(sts(2), [ready_pod("w-0"), ready_pod("w-1")]) == Condition(
        "InferenceReady", "True", "WorkspaceInferenceStatusSuccess", "2/2 pod(s) ready"
    )
    assert cond.inference_ready(sts(1), [ready_pod("w-0", ready=False)]).message == "0/1 pod(s) ready"
    assert not cond.inference_ready(sts(0), []).true  # zero replicas is not "ready"
    assert not cond.inference_ready(sts(None), [ready_pod("w-0")]).true
    assert cond.inference_ready(None, []) == Condition(
        "InferenceReady", "Unknown", "NotCreated", "the StatefulSet does not exist"
    )


def test_pod_ready_reads_the_ready_condition_only() -> None:
    assert cond.pod_ready(ready_pod("p"))
    assert not cond.pod_ready(ready_pod("p", ready=False))
    assert not cond.pod_ready({"status": {"conditions": [{"type": "ContainersReady", "status": "True"}]}})
    assert not cond.pod_ready({"status": {}})


def job(*conditions: tuple[str, str], **status: Any) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": t, "status": s} for t, s in conditions], **status}}


def test_job_outcomes() -> None:
    assert cond.job_succeeded(job(succeeded=1)) and cond.job_succeeded(job(("Complete", "True")))
    assert not cond.job_succeeded(job(("Complete", "False"))) and not cond.job_succeeded(None)
    assert not cond.job_succeeded(job(succeeded=0))
    assert cond.job_failed(job(("Failed", "True"))) and cond.job_failed(job(("FailureTarget", "True")))
    assert not cond.job_failed(job(("Failed", "False"))) and not cond.job_failed(None)


def test_job_started_branches() -> None:
    assert cond.job_started(None, []) == Condition("JobStarted", "Unknown", "NotCreated", "the Job does not exist")
    assert cond.job_started(job(("Failed", "True")), []) == Condition(
        "JobStarted", "False", "WorkspaceTuningJobStatusFailed", "the tuning Job failed"
    )
    started = Condition("JobStarted", "True", "WorkspaceTuningJobStatusStarted", "the tuning Job started")
    assert cond.job_started(job(ready=1), []) == started
    assert cond.job_started(job(), [{"status": {"phase": "Running"}}]) == started
    assert cond.job_started(job(), [{"status": {"phase": "Succeeded"}}]) == started
    assert cond.job_started(job(succeeded=1), []) == started
    assert cond.job_started(job(ready=0), [{"status": {"phase": "Pending"}}]) == Condition(
        "JobStarted", "False", "WorkspaceTuningJobStatusPending", "waiting for the tuning pod to start"
    )


def test_workspace_succeeded_branches() -> None:
    assert cond.workspace_succeeded("inference", sts(1), [ready_pod("w-0")]) == Condition(
        "WorkspaceSucceeded", "True", "workspaceSucceeded", "1/1 pod(s) ready"
    )
    assert cond.workspace_succeeded("inference", sts(1), []) == Condition(
        "WorkspaceSucceeded", "False", "workspacePending", "0/1 pod(s) ready"
    )
    assert cond.workspace_succeeded("tuning", job(succeeded=1), []) == Condition(
        "WorkspaceSucceeded", "True", "workspaceSucceeded", "tuning finished"
    )
    assert cond.workspace_succeeded("tuning", job(("Failed", "True")), []) == Condition(
        "WorkspaceSucceeded", "False", "workspaceFailed", "tuning failed"
    )
    assert cond.workspace_succeeded("tuning", job(), []) == Condition(
        "WorkspaceSucceeded", "False", "workspacePending", "tuning in progress"
    )


def test_placement_record_round_trips_and_selects() -> None:
    info = PlacementInfo(
        mode="pool", node_count=2, gpus_per_node=4, instance_type="S", pool="kc1", selector={"b": "2", "a": "1"}
    )
    assert PlacementInfo.from_json(info.to_json()) == info
    assert info.to_json() == (
        '{"gpusPerNode":4,"instanceType":"S","mode":"pool","nodeCount":2,"nodeNames":[],"pool":"kc1",'
        '"selector":{"a":"1","b":"2"}}'
    )
    assert info.label_selector() == "a=1,b=2"
    assert info.matches(node("n", labels={"a": "1", "b": "2", "c": "3"}))
    assert not info.matches(node("n", labels={"a": "1"}))
    empty = PlacementInfo(mode="selector", node_count=1, gpus_per_node=1, instance_type=None)
    assert empty.label_selector() is None and empty.matches(node("any"))
    named = PlacementInfo(mode="nodes", node_count=1, gpus_per_node=1, instance_type=None, node_names=("n1",))
    assert named.matches(node("n1")) and not named.matches(node("n2", labels={"a": "1"}))
    sparse = PlacementInfo.from_json('{"mode":"nodes","nodeCount":"1","gpusPerNode":"2"}')
    assert (sparse.node_count, sparse.gpus_per_node, sparse.node_names, sparse.selector) == (1, 2, (), {})


# ---- diagnosis, field by field ------------------------------------------------------------------------------

from kaitoctl.core.conditions import Diagnosis  # noqa: E402


def p(name: str, *, phase: str = "Running", init: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase, "initContainerStatuses": init or [], **status}}


def test_unschedulable_and_evicted() -> None:
    pending = p(
        "w-0",
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}],
    )
    assert cond.diagnose("inference", None, [pending], "w") == Diagnosis("Unschedulable", "0/3 nodes", False, pod="w-0")
    bare = p("w-0", phase="Pending", conditions=[{"type": "PodScheduled", "status": "False"}])
    assert cond.diagnose("inference", None, [bare], "w") == Diagnosis(
        "Unschedulable", "the scheduler found no node", False, pod="w-0"
    )
    scheduled = p("w-0", conditions=[{"type": "PodScheduled", "status": "True", "reason": "x"}])
    assert cond.diagnose("inference", None, [scheduled], "w") is None
    evicted = p("w-0", phase="Failed", reason="Evicted", message="low on memory")
    assert cond.diagnose("inference", None, [evicted], "w") == Diagnosis("Evicted", "low on memory", False, pod="w-0")
    assert cond.diagnose("inference", None, [p("w-0", reason="Evicted")], "w").message == "the pod was evicted"  # type: ignore[union-attr]


def test_oom_in_the_current_or_last_state() -> None:
    for key in ("state", "lastState"):
        pod = p("w-0", containerStatuses=[{"name": "w", key: {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}])
        assert cond.diagnose("inference", None, [pod], "w") == Diagnosis(
            "OOMKilled",
            "container w was killed for using more memory than its limit (exit code 137)",
            True,
            pod="w-0",
            container="w",
            exit_code=137,
        )


@pytest.mark.parametrize(
    ("reason", "terminal"),
    [
        ("ImagePullBackOff", True),
        ("InvalidImageName", True),
        ("CreateContainerConfigError", True),
        ("ErrImagePull", False),
        ("ContainerCreating", False),
    ],
)
def test_waiting_reasons(reason: str, terminal: bool) -> None:
    pod = p("w-0", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": reason, "message": "m"}}}])
    assert cond.diagnose("inference", None, [pod], "w") == Diagnosis(reason, "m", terminal, pod="w-0", container="w")


def test_an_unknown_waiting_reason_is_not_a_diagnosis() -> None:
    pod = p("w-0", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": "SomethingNew"}}}])
    assert cond.diagnose("inference", None, [pod], "w") is None
    no_message = p("w-0", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": "ErrImagePull"}}}])
    assert cond.diagnose("inference", None, [no_message], "w").message == "ErrImagePull"  # type: ignore[union-attr]


def test_crash_loop_asks_for_the_previous_logs() -> None:
    pod = p(
        "w-0",
        containerStatuses=[
            {
                "name": "w",
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 3}},
            }
        ],
    )
    assert cond.diagnose("inference", None, [pod], "w") == Diagnosis(
        "CrashLoopBackOff",
        "container w keeps exiting (exit code 3, 3 restarts)",
        True,
        pod="w-0",
        container="w",
        exit_code=3,
        log_container="w",
        previous_logs=True,
    )


def test_failed_containers() -> None:
    init = p(
        "w-0", phase="Pending", init=[{"name": "weights", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]
    )
    assert cond.diagnose("inference", None, [init], "w") == Diagnosis(
        "InitContainerFailed",
        "init container weights exited with code 2 (Error)",
        False,
        pod="w-0",
        container="weights",
        exit_code=2,
        log_container="weights",
    )
    main = p("w-0", phase="Failed", containerStatuses=[{"name": "w", "state": {"terminated": {"exitCode": 1}}}])
    assert cond.diagnose("inference", None, [main], "w") == Diagnosis(
        "ContainerFailed",
        "container w exited with code 1",
        True,
        pod="w-0",
        container="w",
        exit_code=1,
        log_container="w",
    )
    running = p("w-0", containerStatuses=[{"name": "w", "state": {"terminated": {"exitCode": 1}}}])
    assert cond.diagnose("inference", None, [running], "w") is None  # a main container restarting: not yet
    clean = p("w-0", phase="Failed", containerStatuses=[{"name": "w", "state": {"terminated": {"exitCode": 0}}}])
    assert cond.diagnose("inference", None, [clean], "w") is None


def test_pods_are_diagnosed_in_name_order() -> None:
    a = p("w-1", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": "ImagePullBackOff"}}}])
    b = p("w-0", containerStatuses=[{"name": "w", "state": {"waiting": {"reason": "ErrImagePull"}}}])
    assert cond.diagnose("inference", None, [a, b], "w").pod == "w-0"  # type: ignore[union-attr]


def test_a_failed_tuning_pod_is_the_job_failing() -> None:
    pod = p("t-x", phase="Failed", containerStatuses=[{"name": "t", "state": {"terminated": {"exitCode": 1}}}])
    assert cond.diagnose("tuning", job(), [pod], "t") == Diagnosis(
        "JobFailed",
        "the tuning Job failed — container t exited with code 1",
        True,
        pod="t-x",
        container="t",
        exit_code=1,
        log_container="t",
    )


def test_a_failed_job_names_its_condition_and_the_pod() -> None:
    failed = {
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
        }
    }
    assert cond.diagnose("tuning", failed, [], "t") == Diagnosis(
        "JobFailed",
        "the tuning Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
        True,
        pod=None,
        container="t",
        exit_code=None,
        log_container="t",
    )
    target = job(("FailureTarget", "True"))
    pod = p("t-x", phase="Failed", containerStatuses=[{"name": "t", "state": {"terminated": {"exitCode": 1}}}])
    assert cond.diagnose("tuning", target, [pod], "t") == Diagnosis(
        "JobFailed",
        "the tuning Job failed — container t exited with code 1",
        True,
        pod="t-x",
        container="t",
        exit_code=1,
        log_container="t",
    )
    assert cond.diagnose("tuning", target, [p("t-y")], "t").pod == "t-y"  # type: ignore[union-attr]


def test_oom_and_image_problems_win_over_job_failed() -> None:
    oom = p(
        "t-x",
        phase="Failed",
        containerStatuses=[{"name": "t", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}],
    )
    assert cond.diagnose("tuning", job(("Failed", "True")), [oom], "t").reason == "OOMKilled"  # type: ignore[union-attr]
    pull = p(
        "t-x", phase="Pending", containerStatuses=[{"name": "t", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]
    )
    assert cond.diagnose("tuning", job(("Failed", "True")), [pull], "t").reason == "ImagePullBackOff"  # type: ignore[union-attr]


def ev(name: str, reason: str, message: str, stamp: str, kind: str = "Pod") -> dict[str, Any]:
    return {
        "involvedObject": {"kind": kind, "name": name},
        "reason": reason,
        "message": message,
        "lastTimestamp": stamp,
    }


def test_scheduler_message_is_the_newest_for_that_pod() -> None:
    events = [
        ev("w-0", "FailedScheduling", "old", "2026-01-01T00:00:01Z"),
        ev("w-0", "FailedScheduling", "new", "2026-01-01T00:00:02Z"),
        ev("w-0", "Scheduled", "ok", "2026-01-01T00:00:03Z"),
        ev("w-1", "FailedScheduling", "other pod", "2026-01-01T00:00:04Z"),
    ]
    assert cond.scheduler_message(events, "w-0") == "new"
    assert cond.scheduler_message(events, "w-2") is None
    same_time = [ev("w-0", "FailedScheduling", "first", "T"), ev("w-0", "FailedScheduling", "second", "T")]
    assert cond.scheduler_message(same_time, "w-0") == "second"
    new_style = [{"regarding": {"name": "w-0"}, "reason": "FailedScheduling", "note": "0/1 nodes", "eventTime": "T"}]
    assert cond.scheduler_message(new_style, "w-0") == "0/1 nodes"


def test_workload_warning_is_the_newest_failed_create_of_the_workload() -> None:
    events = [
        ev("w", "FailedCreate", "quota", "2026-01-01T00:00:01Z", kind="StatefulSet"),
        ev("w", "FailedCreatePodSandBox", "sandbox", "2026-01-01T00:00:02Z", kind="Job"),
        ev("w", "SuccessfulCreate", "ok", "2026-01-01T00:00:03Z", kind="StatefulSet"),
        ev("w", "FailedCreate", "a pod", "2026-01-01T00:00:04Z", kind="Pod"),
        ev("x", "FailedCreate", "other", "2026-01-01T00:00:05Z", kind="StatefulSet"),
    ]
    assert cond.workload_warning(events, "w") == ("FailedCreatePodSandBox", "sandbox")
    assert cond.workload_warning(events[:1], "w") == ("FailedCreate", "quota")
    assert cond.workload_warning(events, "y") is None


def test_an_oom_kill_reports_the_exit_code_the_kubelet_gave_or_137() -> None:
    said = p("w-0", containerStatuses=[{"name": "w", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 9}}}])
    assert cond.diagnose("inference", None, [said], "w") == Diagnosis(
        "OOMKilled",
        "container w was killed for using more memory than its limit (exit code 9)",
        True,
        pod="w-0",
        container="w",
        exit_code=9,
    )
    unsaid = p("w-0", containerStatuses=[{"name": "w", "lastState": {"terminated": {"reason": "OOMKilled"}}}])
    assert cond.diagnose("inference", None, [unsaid], "w") == Diagnosis(
        "OOMKilled",
        "container w was killed for using more memory than its limit (exit code 137)",
        True,
        pod="w-0",
        container="w",
        exit_code=137,
    )


def test_a_terminated_container_without_an_exit_code_counts_as_exit_0() -> None:
    failed = p("w-0", phase="Failed", containerStatuses=[{"name": "w", "state": {"terminated": {"reason": "Completed"}}}])
    assert cond.diagnose("inference", None, [failed], "w") is None
    init = p("w-0", phase="Pending", init=[{"name": "weights", "state": {"terminated": {"reason": "Completed"}}}])
    assert cond.diagnose("inference", None, [init], "w") is None


def test_pods_without_metadata_are_diagnosed_nameless_and_sorted_first() -> None:
    nameless = {"status": {"phase": "Pending", "reason": "Evicted"}}
    named = p("a-0", reason="Evicted", message="named")
    assert cond.diagnose("inference", None, [named, nameless], "w") == Diagnosis(
        "Evicted", "the pod was evicted", False, pod=None
    )


def test_the_scheduler_message_reads_the_newest_of_each_event_s_own_timestamp() -> None:
    # lastTimestamp (core/v1) wins over eventTime (events.k8s.io), which wins over the object's creation time
    both = [
        {
            "involvedObject": {"name": "w-0"},
            "reason": "FailedScheduling",
            "message": "by lastTimestamp",
            "lastTimestamp": "2026-01-01T00:00:05Z",
            "eventTime": "2026-01-01T00:00:01Z",
        },
        {
            "involvedObject": {"name": "w-0"},
            "reason": "FailedScheduling",
            "message": "by eventTime",
            "eventTime": "2026-01-01T00:00:03Z",
            "metadata": {"creationTimestamp": "2026-01-01T00:00:09Z"},
        },
    ]
    assert cond.scheduler_message(both, "w-0") == "by lastTimestamp"
    created = [
        {
            "involvedObject": {"name": "w-0"},
            "reason": "FailedScheduling",
            "message": "newer",
            "metadata": {"creationTimestamp": "2026-01-01T00:00:02Z"},
        },
        {"involvedObject": {"name": "w-0"}, "reason": "FailedScheduling", "message": "no time at all"},
    ]
    assert cond.scheduler_message(list(reversed(created)), "w-0") == "newer"
    assert cond.scheduler_message([{"involvedObject": {"name": "w-0"}, "reason": "FailedScheduling"}], "w-0") == ""


def test_a_workload_warning_after_other_events_is_still_found() -> None:
    events = [
        ev("w", "SuccessfulCreate", "ok", "2026-01-01T00:00:01Z", kind="StatefulSet"),
        ev("x", "FailedCreate", "other", "2026-01-01T00:00:02Z", kind="StatefulSet"),
        ev("w", "FailedCreate", "quota", "2026-01-01T00:00:03Z", kind="Job"),
        {"involvedObject": {"kind": "Job", "name": "w"}, "reason": "FailedCreate", "eventTime": "2026-01-01T00:00:04Z"},
    ]
    assert cond.workload_warning(events, "w") == ("FailedCreate", "")
    assert cond.workload_warning(events[:3], "w") == ("FailedCreate", "quota")


def test_a_failed_job_condition_without_a_message_ends_at_its_reason() -> None:
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}
    assert cond.diagnose("tuning", failed, [], "t") == Diagnosis(
        "JobFailed", "the tuning Job failed: DeadlineExceeded", True, container="t", log_container="t"
    )


def test_partial_objects_count_as_not_there_yet_and_never_crash() -> None:
    # A node or pod seen before its first status (or a minimal object from a watch) is simply not ready/running.
    bare_node: dict[str, Any] = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert cond.node_ready(bare_node) is True  # no metadata: not terminating
    assert cond.node_gpus({"metadata": {"name": "n"}}) == 0
    assert cond.node_gpus({"status": {"allocatable": {"cpu": "8"}}}) == 0
    bare_pod: dict[str, Any] = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert cond.inference_ready(sts(1), [bare_pod]) == Condition(
        "InferenceReady", "True", "WorkspaceInferenceStatusSuccess", "1/1 pod(s) ready"
    )
    assert cond.job_started(job(), [{"metadata": {"name": "t-x"}}]) == Condition(
        "JobStarted", "False", "WorkspaceTuningJobStatusPending", "waiting for the tuning pod to start"
    )
    assert cond.job_started(job(), [{"metadata": {"name": "t-x"}}, {"status": {"phase": "Succeeded"}}]).true


def test_a_node_known_only_by_its_gpu_labels_without_a_product_name() -> None:
    gfd = node("b", labels={"nvidia.com/gpu.count": "1", "nvidia.com/gpu.memory": "81920"})
    sku = cond.node_sku(gfd, catalog())
    assert sku is not None
    assert (sku.name, sku.gpu_model, sku.gpu_memory_gib, sku.gfd_product, sku.vcpus) == (
        "byo-gpu",
        "NVIDIA GPU",
        80,
        None,
        0,
    )
    assert sku.note == "from the node's GPU feature discovery labels"


def test_a_placement_on_named_nodes_round_trips_with_its_names() -> None:
    named = PlacementInfo(
        mode="nodes", node_count=2, gpus_per_node=1, instance_type=None, node_names=("n1", "n2"), spot=True
    )
    assert named.to_json() == (
        '{"gpusPerNode":1,"instanceType":null,"mode":"nodes","nodeCount":2,"nodeNames":["n1","n2"],"pool":null,'
        '"selector":{},"spot":true}'
    )
    assert PlacementInfo.from_json(named.to_json()) == named
    assert named.label_selector() is None
    assert PlacementInfo.from_json('{"mode":"pool","nodeCount":1,"gpusPerNode":1,"spot":"yes"}').spot is False
