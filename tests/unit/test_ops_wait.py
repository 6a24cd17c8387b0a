"""The waiter's decisions, from scripted watch updates and a fake clock (no threads unless a test says so)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kaitoctl.core import conditions as cond
from kaitoctl.core.conditions import PlacementInfo
from kaitoctl.core.errors import KaitoctlError, OperationFailed, WaitTimeout
from kaitoctl.core.naming import WORKSPACE_LABEL
from kaitoctl.ops import wait as wait_mod
from kaitoctl.ops.progress import DONE, FAILED, PENDING, RUNNING, Progress
from kaitoctl.ops.wait import (
    EVENTS_AFTER_S,
    FAILED_CREATE_GRACE_S,
    IDLE_WAKE_S,
    UNSCHEDULABLE_GRACE_S,
    Tick,
    Waiter,
    WaitOutcome,
    WaitTarget,
)
from kaitoctl.ops.watch import Update
from tests.unit.fakes import FakeKube, RecordingReporter, gpu_node

NS, NAME = "ws", "phi"
PLACEMENT = PlacementInfo("selector", 1, 1, "Standard_NC24ads_A100_v4", selector={"apps": "phi"})
TIMEOUTS = {cond.RESOURCE_READY: 300.0, cond.INFERENCE_READY: 900.0, cond.JOB_STARTED: 600.0}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(
    mode: str = "inference", *, deadline: float | None = None, pool: bool = False, kube: FakeKube | None = None
) -> tuple[Waiter, Clock, Progress]:
    clock = Clock()
    second = cond.INFERENCE_READY if mode == "inference" else cond.JOB_STARTED
    names = ["Apply", cond.RESOURCE_READY, second, cond.WORKSPACE_SUCCEEDED]
    if pool:
        names.insert(0, "NodePool")
    progress = Progress(RecordingReporter(), names, clock=clock)
    progress.done("Apply", "Applied", "3 object(s)")
    target = WaitTarget(NAME, NS, mode, PLACEMENT, NAME, dict(TIMEOUTS), deadline=deadline)
    waiter = Waiter(kube or FakeKube(), target, progress, clock=clock)
    waiter.begin()
    return waiter, clock, progress


def node(ready: bool = True, gpus: int = 1) -> dict[str, Any]:
    return gpu_node("gpu-1", ready=ready, gpus=gpus, labels={"apps": "phi"})


def statefulset(replicas: int = 1) -> dict[str, Any]:
    return {"kind": "StatefulSet", "metadata": {"name": NAME, "namespace": NS}, "spec": {"replicas": replicas}}


def job(**status: Any) -> dict[str, Any]:
    return {"kind": "Job", "metadata": {"name": NAME, "namespace": NS}, "spec": {}, "status": status}


def pod(name: str = f"{NAME}-0", *, ready: bool = False, phase: str = "Pending", **status: Any) -> dict[str, Any]:
    conditions = status.pop("conditions", [{"type": "Ready", "status": "True" if ready else "False"}])
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, **status.pop("metadata", {})},
        "status": {"phase": phase, "conditions": conditions, **status},
    }


def unschedulable_pod(message: str = "0/1 nodes are available") -> dict[str, Any]:
    return pod(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}])


def sync(waiter: Waiter, **items: list[dict[str, Any]]) -> None:
    for key, objs in items.items():
        waiter.cache.apply(Update(key, "sync", items=objs))


def snapshot(
    waiter: Waiter,
    *,
    nodes: list[dict[str, Any]] | None = None,
    workload: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> None:
    sync(
        waiter,
        nodes=nodes if nodes is not None else [node()],
        workload=[workload] if workload is not None else [],
        pods=pods or [],
        events=events or [],
    )


def record(progress: Progress, name: str) -> tuple[str, str, str]:
    r = progress.records[name]
    return r.status, r.reason, r.message


# ---- before a consistent snapshot ----------------------------------------------------------------------------------


def test_nothing_is_judged_until_nodes_pods_and_workload_are_synced() -> None:
    waiter, clock, progress = make()
    sync(waiter, nodes=[node()], pods=[pod(ready=True)])  # the workload stream has not listed yet
    tick = waiter.evaluate(clock())
    assert tick == Tick(outcome=None, line=None, timers=[300.0])
    assert record(progress, cond.RESOURCE_READY) == (RUNNING, "", "waiting for nodes")


def test_idle_wake_without_timers() -> None:
    waiter, clock, _ = make()
    waiter.t.phase_timeouts.clear()
    assert waiter.evaluate(clock()) == Tick(timers=[])
    assert IDLE_WAKE_S == 3600.0


# ---- ResourceReady -------------------------------------------------------------------------------------------------


def test_nodes_not_ready_is_the_resource_line() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, nodes=[node(ready=False)], workload=statefulset())
    tick = waiter.evaluate(clock())
    assert tick.outcome is None
    assert tick.line == ("NodeNotReady", "0/1 matching nodes ready with GPUs (1 present)")
    assert record(progress, cond.RESOURCE_READY) == (
        RUNNING,
        "NodeNotReady",
        "0/1 matching nodes ready with GPUs (1 present)",
    )
    assert tick.timers == [300.0]


def test_ready_node_without_gpus_waits_for_the_device_plugin() -> None:
    waiter, clock, _ = make()
    snapshot(waiter, nodes=[node(gpus=0)], workload=statefulset())
    assert waiter.evaluate(clock()).line == (
        "NodePluginsNotReady",
        "1 ready node(s) advertise no nvidia.com/gpu yet (NVIDIA device plugin)",
    )


def test_resource_ready_starts_the_second_phase_and_its_own_deadline() -> None:
    waiter, clock, progress = make()
    clock.now = 42.0
    snapshot(waiter, workload=statefulset(), pods=[pod()])
    tick = waiter.evaluate(clock())
    assert record(progress, cond.RESOURCE_READY) == (DONE, "NodesReady", "1/1 node(s) ready with GPUs")
    assert progress.current == cond.INFERENCE_READY
    assert waiter.resource_ready_at == 42.0
    assert tick.line == ("WorkspaceInferenceStatusPending", "0/1 pod(s) ready")
    assert tick.timers == [42.0 + 900.0]  # InferenceReady's budget, from when it started


def test_a_ready_pod_before_the_nodes_count_proves_nothing() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, nodes=[node(ready=False)], workload=statefulset(), pods=[pod(ready=True, phase="Running")])
    assert waiter.evaluate(clock()).outcome is None
    assert record(progress, cond.INFERENCE_READY)[0] == PENDING


# ---- InferenceReady ------------------------------------------------------------------------------------------------


def test_inference_ready_ends_the_wait() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, workload=statefulset(), pods=[pod(ready=True, phase="Running")])
    assert waiter.evaluate(clock()) == Tick(outcome=WaitOutcome())
    assert record(progress, cond.INFERENCE_READY) == (DONE, "WorkspaceInferenceStatusSuccess", "1/1 pod(s) ready")
    assert record(progress, cond.WORKSPACE_SUCCEEDED) == (DONE, "workspaceSucceeded", "1/1 pod(s) ready")


def test_a_terminating_pod_is_not_ready() -> None:
    waiter, clock, _ = make()
    old = pod(ready=True, phase="Running", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    snapshot(waiter, workload=statefulset(), pods=[old])
    tick = waiter.evaluate(clock())
    assert tick.outcome is None
    assert tick.line == ("WorkspaceInferenceStatusPending", "0/1 pod(s) ready")


def test_all_replicas_must_be_ready() -> None:
    waiter, clock, _ = make()
    snapshot(waiter, workload=statefulset(2), pods=[pod(ready=True, phase="Running"), pod(f"{NAME}-1")])
    tick = waiter.evaluate(clock())
    assert tick.outcome is None
    assert tick.line == ("WorkspaceInferenceStatusPending", "1/2 pod(s) ready")


# ---- diagnosis -----------------------------------------------------------------------------------------------------


def test_unschedulable_while_nodes_come_up_is_expected() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, nodes=[node(ready=False)], workload=statefulset(), pods=[unschedulable_pod()])
    clock.now = 200.0  # long after the grace, but the nodes are not ready
    tick = waiter.evaluate(clock())
    assert tick.line == ("NodeNotReady", "0/1 matching nodes ready with GPUs (1 present)")  # not the pod's reason
    assert tick.timers == [300.0]  # no grace timer: only ResourceReady's deadline
    assert waiter.last_reason == "Unschedulable: 0/1 nodes are available"
    assert record(progress, cond.RESOURCE_READY)[0] == RUNNING


def test_unschedulable_after_nodes_ready_fails_after_the_grace() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, nodes=[node(ready=False)], workload=statefulset(), pods=[unschedulable_pod()])
    clock.now = 5.0
    assert waiter.evaluate(clock()).outcome is None
    clock.now = 10.0
    sync(waiter, nodes=[node()])
    tick = waiter.evaluate(clock())
    assert tick.line == ("Unschedulable", "0/1 nodes are available")
    assert tick.timers == [10.0 + UNSCHEDULABLE_GRACE_S, 10.0 + 900.0]
    clock.now = 10.0 + UNSCHEDULABLE_GRACE_S - 0.01
    assert waiter.evaluate(clock()).outcome is None
    clock.now = 10.0 + UNSCHEDULABLE_GRACE_S
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert failed.value.reason == "Unschedulable"
    assert failed.value.message == f"Unschedulable: 0/1 nodes are available (pod {NAME}-0)"
    assert failed.value.hint == wait_mod._HINTS["Unschedulable"]
    assert record(progress, cond.INFERENCE_READY) == (FAILED, "Unschedulable", "0/1 nodes are available")


def test_the_scheduler_event_gives_the_full_message() -> None:
    waiter, clock, _ = make()
    event = {
        "involvedObject": {"kind": "Pod", "name": f"{NAME}-0"},
        "reason": "FailedScheduling",
        "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
        "lastTimestamp": "2026-01-01T00:00:01Z",
    }
    snapshot(waiter, workload=statefulset(), pods=[unschedulable_pod("0/1 nodes")], events=[event])
    assert waiter.evaluate(clock()).line == ("Unschedulable", "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")


def test_a_rewritten_condition_keeps_the_last_real_message() -> None:
    waiter, clock, _ = make()
    snapshot(waiter, workload=statefulset(), pods=[unschedulable_pod("0/1 nodes: Insufficient nvidia.com/gpu")])
    waiter.evaluate(clock())
    sync(waiter, pods=[unschedulable_pod("Unschedulable")])  # the message equals the reason now
    assert waiter.evaluate(clock()).line == ("Unschedulable", "0/1 nodes: Insufficient nvidia.com/gpu")


def test_oomkilled_takes_precedence_over_crashloop_and_fails_at_once() -> None:
    kube = FakeKube()
    waiter, clock, progress = make(kube=kube)
    crashing = pod(
        containerStatuses=[
            {
                "name": NAME,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ]
    )
    snapshot(waiter, workload=statefulset(), pods=[crashing])
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert failed.value.reason == "OOMKilled"
    assert failed.value.message == (
        f"OOMKilled: container {NAME} was killed for using more memory than its limit (exit code 137) "
        f"(pod {NAME}-0, container {NAME})"
    )
    assert failed.value.hint == "choose a larger --instance-type, or lower --max-model-len"
    assert failed.value.details == []
    assert [c for c in kube.calls if c[0] == "logs"] == []  # no log container for OOMKilled
    assert record(progress, cond.INFERENCE_READY)[:2] == (FAILED, "OOMKilled")


def test_crashloop_fails_with_the_previous_logs() -> None:
    kube = FakeKube(pod_logs={(NS, f"{NAME}-0", NAME): ["loading", "Traceback", "CUDA error"]})
    waiter, clock, _ = make(kube=kube)
    crashing = pod(
        containerStatuses=[
            {
                "name": NAME,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1}},
            }
        ]
    )
    snapshot(waiter, workload=statefulset(), pods=[crashing])
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert failed.value.reason == "CrashLoopBackOff"
    assert failed.value.details == ["log: loading", "log: Traceback", "log: CUDA error"]
    assert ("logs", NS, f"{NAME}-0", NAME, 20, True, False) in kube.calls


def test_log_fetch_failure_falls_back_to_the_followed_tail() -> None:
    class NoLogs(FakeKube):
        def logs(self, namespace: str, pod: str, **kwargs: Any) -> Any:  # type: ignore[override]
            raise OperationFailed("cannot read logs")

    waiter, clock, _ = make(kube=NoLogs())
    waiter.log_tail.extend(["step 1/2 [", "killed"])
    crashing = pod(containerStatuses=[{"name": NAME, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    snapshot(waiter, workload=statefulset(), pods=[crashing])
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert failed.value.details == ["log: step 1/2 [", "log: killed"]


def test_evicted_is_reported_not_fatal() -> None:
    waiter, clock, _ = make()
    evicted = pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory.")
    snapshot(waiter, workload=statefulset(), pods=[evicted])
    tick = waiter.evaluate(clock())
    assert tick.outcome is None
    assert tick.line == ("Evicted", "The node was low on resource: memory.")
    assert waiter.last_reason == "Evicted: The node was low on resource: memory."


def test_image_pull_backoff_is_terminal_err_image_pull_is_not() -> None:
    waiter, clock, _ = make()
    pulling = pod(containerStatuses=[{"name": NAME, "state": {"waiting": {"reason": "ErrImagePull", "message": "x"}}}])
    snapshot(waiter, workload=statefulset(), pods=[pulling])
    assert waiter.evaluate(clock()).line == ("ErrImagePull", "x")
    backoff = pod(containerStatuses=[{"name": NAME, "state": {"waiting": {"reason": "ImagePullBackOff"}}}])
    sync(waiter, pods=[backoff])
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert (failed.value.reason, failed.value.hint) == (
        "ImagePullBackOff",
        "check the image reference and --image-pull-secret",
    )


# ---- FailedCreate --------------------------------------------------------------------------------------------------


def failed_create(message: str = 'pods "phi-0" is forbidden: exceeded quota') -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "StatefulSet", "name": NAME},
        "reason": "FailedCreate",
        "message": message,
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }


def test_failed_create_without_pods_fails_after_the_grace() -> None:
    waiter, clock, progress = make()
    clock.now = 3.0
    snapshot(waiter, workload=statefulset(), events=[failed_create()])
    tick = waiter.evaluate(clock())
    assert tick.line == ("FailedCreate", 'pods "phi-0" is forbidden: exceeded quota')
    assert tick.timers == [3.0 + FAILED_CREATE_GRACE_S, 3.0 + 900.0]
    assert waiter.last_reason == 'FailedCreate: pods "phi-0" is forbidden: exceeded quota'
    clock.now = 3.0 + FAILED_CREATE_GRACE_S - 0.01
    assert waiter.evaluate(clock()).outcome is None
    clock.now = 3.0 + FAILED_CREATE_GRACE_S
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert failed.value.reason == "FailedCreate"
    assert failed.value.message == 'FailedCreate: pods "phi-0" is forbidden: exceeded quota'
    assert failed.value.hint == "the controller cannot create the pods; see the message"
    assert record(progress, cond.INFERENCE_READY)[:2] == (FAILED, "FailedCreate")


def test_failed_create_is_ignored_once_pods_exist() -> None:
    waiter, clock, _ = make()
    snapshot(waiter, workload=statefulset(), pods=[pod()], events=[failed_create()])
    clock.now = 100.0
    tick = waiter.evaluate(clock())
    assert tick.line == ("WorkspaceInferenceStatusPending", "0/1 pod(s) ready")
    assert waiter.failed_create_since is None


def test_failed_create_grace_counts_from_the_first_sighting() -> None:
    waiter, clock, _ = make()
    snapshot(waiter, workload=statefulset(), events=[failed_create()])
    clock.now = 1.0
    waiter.evaluate(clock())
    clock.now = 9.0
    sync(waiter, events=[failed_create("a newer message")])
    assert waiter.evaluate(clock()).timers[0] == 1.0 + FAILED_CREATE_GRACE_S


# ---- API errors and deadlines --------------------------------------------------------------------------------------


def test_a_lost_watch_says_reconnecting_until_it_re_lists() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, nodes=[node(ready=False)], workload=statefulset())
    waiter.cache.apply(Update("pods", "error", error="cannot reach the API server"))
    tick = waiter.evaluate(clock())
    assert tick.line == ("APIUnavailable", "reconnecting (cannot reach the API server)")
    assert waiter.last_reason == "API server unavailable: cannot reach the API server"
    assert record(progress, cond.RESOURCE_READY)[1:] == ("APIUnavailable", "reconnecting (cannot reach the API server)")
    waiter.cache.apply(Update("pods", "sync", items=[]))
    assert waiter.evaluate(clock()).line == ("NodeNotReady", "0/1 matching nodes ready with GPUs (1 present)")


def test_the_phase_budget_times_out_with_the_last_reason() -> None:
    waiter, clock, _ = make()
    snapshot(waiter, nodes=[node(ready=False)], workload=statefulset(), pods=[unschedulable_pod()])
    clock.now = 300.0 - 0.5
    assert waiter.evaluate(clock()).timers == [300.0]
    clock.now = 300.0
    with pytest.raises(WaitTimeout) as timeout:
        waiter.evaluate(clock())
    assert timeout.value.phase == cond.RESOURCE_READY
    assert timeout.value.waited_s == 300.0
    assert timeout.value.message == (
        "timed out after 300s waiting for ResourceReady (last seen: Unschedulable: 0/1 nodes are available)"
    )


def test_without_a_reason_the_timeout_names_the_phase_message() -> None:
    waiter, clock, _ = make()
    clock.now = 300.0
    with pytest.raises(WaitTimeout) as timeout:
        waiter.evaluate(clock())
    assert timeout.value.message == "timed out after 300s waiting for ResourceReady (last seen: waiting for nodes)"


def test_timeout_flag_is_one_deadline_for_all_phases() -> None:
    waiter, clock, _ = make(deadline=50.0)
    snapshot(waiter, workload=statefulset(), pods=[pod()])
    clock.now = 20.0
    assert waiter.evaluate(clock()).timers == [50.0]  # not the phase budgets
    clock.now = 50.0
    with pytest.raises(WaitTimeout) as timeout:
        waiter.evaluate(clock())
    assert timeout.value.phase == cond.INFERENCE_READY
    assert timeout.value.waited_s == 50.0  # from the first phase's start, not InferenceReady's


# ---- tuning --------------------------------------------------------------------------------------------------------


def test_job_start_follows_the_trainer_log_and_reports_steps() -> None:
    kube = FakeKube(pod_logs={(NS, f"{NAME}-0abcde", NAME): ["epoch 0", "  3/10 [00:01<00:02]", "  7/10 [00:02<"]})
    waiter, clock, progress = make("tuning", kube=kube)
    running = pod(f"{NAME}-0abcde", phase="Running")
    snapshot(waiter, workload=job(active=1), pods=[running])
    tick = waiter.evaluate(clock())
    assert record(progress, cond.JOB_STARTED) == (DONE, "WorkspaceTuningJobStatusStarted", "the tuning Job started")
    assert progress.current == cond.WORKSPACE_SUCCEEDED
    assert tick.line == ("Training", "the trainer is running")
    assert waiter.log_thread is not None
    waiter.log_thread.join(5)
    assert waiter.intake(timeout=0) is True
    assert waiter.step == (7, 10)
    assert list(waiter.log_tail) == ["epoch 0", "  3/10 [00:01<00:02]", "  7/10 [00:02<"]
    assert waiter.evaluate(clock()).line == ("Training", "step 7/10")
    assert ("logs", NS, f"{NAME}-0abcde", NAME, None, False, True) in kube.calls
    sync(waiter, workload=[job(succeeded=1)])
    assert waiter.evaluate(clock()) == Tick(outcome=WaitOutcome(training_step=(7, 10)))
    assert record(progress, cond.WORKSPACE_SUCCEEDED) == (DONE, "workspaceSucceeded", "tuning finished")


def test_job_pending_line_and_no_log_follower() -> None:
    waiter, clock, _ = make("tuning")
    snapshot(waiter, workload=job(), pods=[pod(f"{NAME}-0abcde")])
    assert waiter.evaluate(clock()).line == ("WorkspaceTuningJobStatusPending", "waiting for the tuning pod to start")
    assert waiter.log_thread is None


def test_failed_job_fails_with_its_condition() -> None:
    waiter, clock, progress = make("tuning")
    failed_job = job(
        conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}]
    )
    snapshot(waiter, workload=failed_job, pods=[])
    with pytest.raises(OperationFailed) as failed:
        waiter.evaluate(clock())
    assert failed.value.reason == "JobFailed"
    assert failed.value.message == "JobFailed: the tuning Job failed: BackoffLimitExceeded: x"
    assert record(progress, cond.JOB_STARTED)[:2] == (FAILED, "JobFailed")


# ---- the pool side channel and the loop ----------------------------------------------------------------------------


def test_pool_updates_before_and_during_the_wait() -> None:
    waiter, _, progress = make(pool=True)
    waiter.streams.queue.put(Update("pool", "side", obj={"state": "Creating", "action": "agent pool p: 1 × X"}))
    assert waiter.intake(timeout=0) is True
    assert record(progress, "NodePool") == (RUNNING, "Creating", "agent pool p: 1 × X")
    waiter.streams.queue.put(Update("pool", "side", obj={"state": "Succeeded", "action": "agent pool p: create"}))
    waiter.intake(timeout=0)
    assert record(progress, "NodePool") == (DONE, "Succeeded", "agent pool p: create")
    assert waiter.intake(timeout=0) is False


def test_a_failed_pool_operation_ends_the_wait_with_its_error() -> None:
    waiter, _, progress = make(pool=True)
    error = KaitoctlError("quota", reason="QuotaExceeded")
    waiter.streams.queue.put(Update("pool", "side", obj={"state": "Failed", "error": error}))
    with pytest.raises(KaitoctlError) as raised:
        waiter.intake(timeout=0)
    assert raised.value is error
    assert record(progress, "NodePool") == (FAILED, "QuotaExceeded", "quota")


def test_pool_updates_posted_during_apply_are_applied_first() -> None:
    clock = Clock()
    progress = Progress(RecordingReporter(), ["NodePool", cond.RESOURCE_READY, cond.INFERENCE_READY], clock=clock)
    target = WaitTarget(NAME, NS, "inference", PLACEMENT, NAME, dict(TIMEOUTS))
    waiter = Waiter(FakeKube(), target, progress, clock=clock)
    waiter.cache.apply(Update("pool", "side", obj={"state": "Scaling", "action": "agent pool p"}))
    waiter.begin()
    assert record(progress, "NodePool") == (RUNNING, "Scaling", "agent pool p")
    assert record(progress, cond.RESOURCE_READY) == (RUNNING, "", "waiting for nodes")


def test_run_watches_a_cluster_until_ready() -> None:
    """The whole loop on real threads: list-then-watch the fake cluster until the StatefulSet's pod is Ready."""
    kube = FakeKube()
    kube.put({**node(), "apiVersion": "v1"})
    kube.put({**statefulset(), "apiVersion": "apps/v1"})
    clock = Clock()
    progress = Progress(RecordingReporter(), [cond.RESOURCE_READY, cond.INFERENCE_READY, cond.WORKSPACE_SUCCEEDED])
    target = WaitTarget(NAME, NS, "inference", PLACEMENT, NAME, dict(TIMEOUTS))
    waiter = Waiter(kube, target, progress, clock=clock)
    labels = {WORKSPACE_LABEL: NAME}
    kube.put({**pod(), "apiVersion": "v1", "metadata": {"name": f"{NAME}-0", "namespace": NS, "labels": labels}})
    outcome: list[WaitOutcome] = []
    thread = threading.Thread(target=lambda: outcome.append(waiter.run()), daemon=True)
    thread.start()
    ready = pod(ready=True, phase="Running")
    kube.put({**ready, "apiVersion": "v1", "metadata": {"name": f"{NAME}-0", "namespace": NS, "labels": labels}})
    thread.join(10)
    assert outcome == [WaitOutcome()]
    assert waiter.streams.stop_event.is_set()
    assert record(progress, cond.INFERENCE_READY)[0] == DONE


def test_a_failing_log_follower_ends_quietly() -> None:
    class NoLogs(FakeKube):
        def logs(self, namespace: str, pod: str, **kwargs: Any) -> Any:  # type: ignore[override]
            raise OperationFailed("cannot read logs")

    waiter, clock, _ = make("tuning", kube=NoLogs())
    snapshot(waiter, workload=job(active=1), pods=[pod(f"{NAME}-0abcde", phase="Running")])
    waiter.evaluate(clock())
    assert waiter.log_thread is not None
    waiter.log_thread.join(5)
    assert not waiter.log_thread.is_alive()
    assert waiter.intake(timeout=0) is False  # nothing was posted
    assert waiter.step is None


def test_a_job_counted_ready_by_its_status_has_no_pod_to_follow_yet() -> None:
    waiter, clock, progress = make("tuning")
    snapshot(waiter, workload=job(ready=1), pods=[pod(f"{NAME}-0abcde")])
    assert waiter.evaluate(clock()).line == ("Training", "the trainer is running")
    assert record(progress, cond.JOB_STARTED)[0] == DONE
    assert waiter.log_thread is None


def test_resource_ready_stays_done_when_a_node_goes_away() -> None:
    waiter, clock, progress = make()
    snapshot(waiter, workload=statefulset(), pods=[pod()])
    waiter.evaluate(clock())
    sync(waiter, nodes=[])
    tick = waiter.evaluate(clock())
    assert record(progress, cond.RESOURCE_READY)[0] == DONE
    assert tick.line == ("WorkspaceInferenceStatusPending", "0/1 pod(s) ready")


# ---- what is watched (each stream is a list and a watch request) ----------------------------------------------------


def stream_keys(waiter: Waiter) -> list[str]:
    return [spec.key for spec in waiter.streams.specs]


def test_streams_the_pods_the_nodes_of_a_pool_and_a_job_only() -> None:
    assert stream_keys(make()[0]) == ["pods", "nodes"]  # the StatefulSet comes from its apply (applied())
    assert stream_keys(make("tuning")[0]) == ["pods", "nodes", "workload"]
    known = WaitTarget(NAME, NS, "inference", PLACEMENT, NAME, dict(TIMEOUTS), nodes=[node()])
    waiter = Waiter(FakeKube(), known, Progress(RecordingReporter(), [cond.RESOURCE_READY]))
    assert stream_keys(waiter) == ["pods"]
    assert waiter.cache.synced == {"nodes"} and len(waiter.cache.items("nodes")) == 1
    waiter.applied(statefulset())
    assert waiter.cache.synced == {"nodes", "workload"} and waiter.workload == statefulset()


def test_without_the_applied_statefulset_the_run_watches_it() -> None:
    waiter, _, _ = make()
    waiter.start()
    waiter.streams.stop()
    assert stream_keys(waiter) == ["pods", "nodes", "workload"]
    waiter, _, _ = make()
    waiter.applied(statefulset())
    waiter.start()
    waiter.streams.stop()
    assert stream_keys(waiter) == ["pods", "nodes"]


def test_events_are_read_only_when_pods_do_not_appear() -> None:
    waiter, clock, _ = make()
    sync(waiter, nodes=[node()], workload=[statefulset()], pods=[])
    assert waiter.evaluate(clock()).timers == [EVENTS_AFTER_S, 900.0]
    assert "events" not in stream_keys(waiter)
    clock.now = EVENTS_AFTER_S - 0.01
    waiter.evaluate(clock())
    assert "events" not in stream_keys(waiter)
    clock.now = EVENTS_AFTER_S
    waiter.evaluate(clock())
    assert stream_keys(waiter).count("events") == 1
    waiter.evaluate(clock())
    assert stream_keys(waiter).count("events") == 1  # started once


def test_pods_reset_the_events_timer_and_a_healthy_wait_reads_none() -> None:
    waiter, clock, _ = make()
    sync(waiter, nodes=[node()], workload=[statefulset()], pods=[])
    waiter.evaluate(clock())
    sync(waiter, pods=[pod()])
    clock.now = 10.0
    waiter.evaluate(clock())
    sync(waiter, pods=[pod(ready=True, phase="Running")])
    assert waiter.evaluate(clock()).outcome == WaitOutcome()
    assert "events" not in stream_keys(waiter)
    assert waiter.no_pods_since is None


def test_unschedulable_pods_read_events_once_the_nodes_are_ready() -> None:
    waiter, clock, _ = make()
    sync(waiter, nodes=[node(ready=False)], workload=[statefulset()], pods=[unschedulable_pod()])
    waiter.evaluate(clock())
    assert "events" not in stream_keys(waiter)  # expected while the nodes come up: its message is not shown
    sync(waiter, nodes=[node()])
    waiter.evaluate(clock())
    assert "events" in stream_keys(waiter)
