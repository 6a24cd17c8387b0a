"""Workspace conditions and failure diagnosis, computed from plain Kubernetes objects (dicts as the API returns
them). Pure: both `kaitoctl status` (from list calls) and the waiter (from watch events) use it.

Vocabulary is Kaito's: conditions ResourceReady, InferenceReady, JobStarted, WorkspaceSucceeded; reasons
Unschedulable, ErrImagePull, ImagePullBackOff, CrashLoopBackOff, OOMKilled, JobFailed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kaitoctl.core.catalog import Catalog, Sku

Obj = Mapping[str, Any]

GPU_RESOURCE = "nvidia.com/gpu"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_COUNT = "nvidia.com/gpu.count"
GFD_MEMORY = "nvidia.com/gpu.memory"  # MiB per GPU

RESOURCE_READY = "ResourceReady"
INFERENCE_READY = "InferenceReady"
JOB_STARTED = "JobStarted"
WORKSPACE_SUCCEEDED = "WorkspaceSucceeded"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True", "False" or "Unknown"
    reason: str
    message: str = ""

    @property
    def true(self) -> bool:
        return self.status == "True"


@dataclass(frozen=True)
class Diagnosis:
    """The first actionable reason a workspace is not progressing."""

    reason: str
    message: str
    terminal: bool  # will not heal by waiting
    pod: str | None = None
    container: str | None = None
    exit_code: int | None = None
    log_container: str | None = None  # whose logs explain it (fetched by the caller)
    previous_logs: bool = False


@dataclass(frozen=True)
class PlacementInfo:
    """How a workspace's nodes are found; stored on the workspace record."""

    mode: str  # pool | nodes | selector
    node_count: int
    gpus_per_node: int
    instance_type: str | None
    pool: str | None = None
    node_names: tuple[str, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)
    spot: bool = False  # a Spot pool: `start` and `export` need to know (the key is written only when true)

    def to_json(self) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "nodeCount": self.node_count,
                "gpusPerNode": self.gpus_per_node,
                "instanceType": self.instance_type,
                "pool": self.pool,
                "nodeNames": list(self.node_names),
                "selector": self.selector,
                **({"spot": True} if self.spot else {}),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> PlacementInfo:
        raw = json.loads(text)
        return cls(
            mode=raw["mode"],
            node_count=int(raw["nodeCount"]),
            gpus_per_node=int(raw["gpusPerNode"]),
            instance_type=raw.get("instanceType"),
            pool=raw.get("pool"),
            node_names=tuple(raw.get("nodeNames") or ()),
            selector=dict(raw.get("selector") or {}),
            spot=raw.get("spot") is True,
        )

    def label_selector(self) -> str | None:
        """Server-side selector for this workspace's candidate nodes (None: filter by name)."""
        if self.mode == "nodes":
            return None
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items())) or None

    def matches(self, node: Obj) -> bool:
        meta = node.get("metadata", {})
        if self.mode == "nodes":
            return meta.get("name") in self.node_names
        labels = meta.get("labels") or {}
        return all(labels.get(k) == v for k, v in self.selector.items())


# ---- nodes ----------------------------------------------------------------------------------------------------


def quantity_int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def node_ready(node: Obj) -> bool:
    if node.get("metadata", {}).get("deletionTimestamp"):
        return False
    for cond in node.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def node_gpus(node: Obj) -> int:
    return quantity_int((node.get("status", {}).get("allocatable") or {}).get(GPU_RESOURCE, 0))


def node_sku(node: Obj, catalog: Catalog) -> Sku | None:
    """The GPU configuration of a node: its instance type from the catalog, else GPU feature discovery labels."""
    labels = node.get("metadata", {}).get("labels") or {}
    instance = labels.get(INSTANCE_TYPE_LABEL)
    if instance:
        known = catalog.sku(instance)
        if known is not None:
            return known
    count = quantity_int(labels.get(GFD_COUNT))
    memory_mib = quantity_int(labels.get(GFD_MEMORY))
    if count and memory_mib:
        return Sku(
            name=instance or f"byo-{labels.get(GFD_PRODUCT, 'gpu')}",
            gpus=count,
            gpu_model=str(labels.get(GFD_PRODUCT, "NVIDIA GPU")).replace("-", " "),
            gpu_memory_gib=round(memory_mib / 1024),
            vcpus=quantity_int((node.get("status", {}).get("capacity") or {}).get("cpu")),
            memory_gib=0.0,
            nvme=False,
            cuda_cc=None,
            quota_family=None,
            gfd_product=labels.get(GFD_PRODUCT),
            status="current",
            note="from the node's GPU feature discovery labels",
        )
    return None


def resource_ready(placement: PlacementInfo, nodes: Iterable[Obj]) -> Condition:
    candidates = [n for n in nodes if placement.matches(n)]
    ready = [n for n in candidates if node_ready(n)]
    with_gpus = [n for n in ready if node_gpus(n) >= placement.gpus_per_node]
    need = placement.node_count
    if len(with_gpus) >= need:
        return Condition(RESOURCE_READY, "True", "NodesReady", f"{len(with_gpus)}/{need} node(s) ready with GPUs")
    if len(ready) > len(with_gpus):
        return Condition(
            RESOURCE_READY,
            "False",
            "NodePluginsNotReady",
            f"{len(ready) - len(with_gpus)} ready node(s) advertise no {GPU_RESOURCE} yet (NVIDIA device plugin)",
        )
    where = {"pool": f"pool {placement.pool}", "nodes": "named nodes", "selector": "matching nodes"}[placement.mode]
    return Condition(
        RESOURCE_READY,
        "False",
        "NodeNotReady",
        f"{len(with_gpus)}/{need} {where} ready with GPUs ({len(candidates)} present)",
    )


# ---- workloads ------------------------------------------------------------------------------------------------


def pod_ready(pod: Obj) -> bool:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def inference_ready(statefulset: Obj | None, pods: Iterable[Obj]) -> Condition:
    if statefulset is None:
        return Condition(INFERENCE_READY, "Unknown", "NotCreated", "the StatefulSet does not exist")
    replicas = int(statefulset.get("spec", {}).get("replicas") or 0)
    pods = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    ready = sum(1 for p in pods if pod_ready(p))
    if replicas and ready >= replicas:
        return Condition(INFERENCE_READY, "True", "WorkspaceInferenceStatusSuccess", f"{ready}/{replicas} pod(s) ready")
    return Condition(INFERENCE_READY, "False", "WorkspaceInferenceStatusPending", f"{ready}/{replicas} pod(s) ready")


def _job_condition(job: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in job.get("status", {}).get("conditions") or []
    )


def job_succeeded(job: Obj | None) -> bool:
    return job is not None and (
        quantity_int(job.get("status", {}).get("succeeded")) > 0 or _job_condition(job, "Complete")
    )


def job_failed(job: Obj | None) -> bool:
    # FailureTarget comes first (k8s ≥ 1.31) while the failed pods finish terminating.
    return job is not None and (_job_condition(job, "Failed") or _job_condition(job, "FailureTarget"))


def job_started(job: Obj | None, pods: Iterable[Obj]) -> Condition:
    if job is None:
        return Condition(JOB_STARTED, "Unknown", "NotCreated", "the Job does not exist")
    if job_failed(job):
        return Condition(JOB_STARTED, "False", "WorkspaceTuningJobStatusFailed", "the tuning Job failed")
    status = job.get("status", {})
    running = any(p.get("status", {}).get("phase") in ("Running", "Succeeded") for p in pods)
    if job_succeeded(job) or quantity_int(status.get("ready")) > 0 or running:
        return Condition(JOB_STARTED, "True", "WorkspaceTuningJobStatusStarted", "the tuning Job started")
    return Condition(JOB_STARTED, "False", "WorkspaceTuningJobStatusPending", "waiting for the tuning pod to start")


def workspace_succeeded(mode: str, workload: Obj | None, pods: Iterable[Obj]) -> Condition:
    if mode == "inference":
        inf = inference_ready(workload, pods)
        status = "True" if inf.true else "False"
        return Condition(
            WORKSPACE_SUCCEEDED, status, "workspaceSucceeded" if inf.true else "workspacePending", inf.message
        )
    if job_succeeded(workload):
        return Condition(WORKSPACE_SUCCEEDED, "True", "workspaceSucceeded", "tuning finished")
    if job_failed(workload):
        return Condition(WORKSPACE_SUCCEEDED, "False", "workspaceFailed", "tuning failed")
    return Condition(WORKSPACE_SUCCEEDED, "False", "workspacePending", "tuning in progress")


# ---- diagnosis ------------------------------------------------------------------------------------------------

# Waiting reasons that need a person, not time.
_TERMINAL_WAITING = {
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
_PROGRESS_WAITING = {"ErrImagePull", "ContainerCreating", "PodInitializing"}


def _container_statuses(pod: Obj) -> list[tuple[bool, Obj]]:
    status = pod.get("status", {})
    return [(True, c) for c in status.get("initContainerStatuses") or []] + [
        (False, c) for c in status.get("containerStatuses") or []
    ]


def _diagnose_pod(pod: Obj) -> Diagnosis | None:
    name = pod.get("metadata", {}).get("name")
    status = pod.get("status", {})
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return Diagnosis(
                reason=str(cond.get("reason") or "Unschedulable"),
                message=str(cond.get("message") or "the scheduler found no node"),
                terminal=False,  # may heal when nodes arrive; the waiter decides when it stops healing
                pod=name,
            )
    if status.get("reason") == "Evicted":
        return Diagnosis("Evicted", str(status.get("message") or "the pod was evicted"), False, pod=name)
    for is_init, cs in _container_statuses(pod):
        cname = cs.get("name")
        for key in ("state", "lastState"):
            terminated = (cs.get(key) or {}).get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                return Diagnosis(
                    "OOMKilled",
                    f"container {cname} was killed for using more memory than its limit (exit code "
                    f"{terminated.get('exitCode', 137)})",
                    True,
                    pod=name,
                    container=cname,
                    exit_code=terminated.get("exitCode", 137),
                )
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _TERMINAL_WAITING or reason in _PROGRESS_WAITING:
            message = str(waiting.get("message") or reason)
            last = (cs.get("lastState") or {}).get("terminated") or {}
            exit_code = last.get("exitCode")
            if reason == "CrashLoopBackOff":
                message = (
                    f"container {cname} keeps exiting (exit code {exit_code}, {cs.get('restartCount', 0)} restarts)"
                )
            return Diagnosis(
                str(reason),
                message,
                reason in _TERMINAL_WAITING,
                pod=name,
                container=cname,
                exit_code=exit_code,
                log_container=cname if reason == "CrashLoopBackOff" else None,
                previous_logs=reason == "CrashLoopBackOff",
            )
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0 and (is_init or status.get("phase") == "Failed"):
            return Diagnosis(
                "ContainerFailed" if not is_init else "InitContainerFailed",
                f"{'init container' if is_init else 'container'} {cname} exited with code "
                f"{terminated.get('exitCode')}" + (f" ({terminated['reason']})" if terminated.get("reason") else ""),
                status.get("phase") == "Failed",
                pod=name,
                container=cname,
                exit_code=terminated.get("exitCode"),
                log_container=cname,
            )
    return None


def diagnose(mode: str, workload: Obj | None, pods: Iterable[Obj], main_container: str) -> Diagnosis | None:
    """The first actionable reason, pods in name order so the answer is stable."""
    pods = sorted(pods, key=lambda p: p.get("metadata", {}).get("name", ""))
    if mode == "tuning" and job_failed(workload):
        assert workload is not None
        message = "the tuning Job failed"
        for cond in workload.get("status", {}).get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                message = f"the tuning Job failed: {cond.get('reason')}: {cond.get('message', '')}".rstrip(": ")
        found = next((d for d in map(_diagnose_pod, pods) if d is not None), None)
        if found is not None and found.reason in ("OOMKilled", "ImagePullBackOff", "InvalidImageName"):
            return found
        container = found.container if found and found.container else main_container
        return Diagnosis(
            "JobFailed",
            message + (f" — {found.message}" if found else ""),
            True,
            pod=found.pod if found else (pods[0]["metadata"]["name"] if pods else None),
            container=container,
            exit_code=found.exit_code if found else None,
            log_container=container,
        )
    for pod in pods:
        found = _diagnose_pod(pod)
        if found is not None:
            if mode == "tuning" and found.terminal and found.reason in ("ContainerFailed", "InitContainerFailed"):
                # restartPolicy Never, backoffLimit 0: the pod failing is the Job failing (its condition follows).
                return Diagnosis(
                    "JobFailed",
                    f"the tuning Job failed — {found.message}",
                    True,
                    pod=found.pod,
                    container=found.container,
                    exit_code=found.exit_code,
                    log_container=found.log_container,
                )
            return found
    return None


def scheduler_message(events: Iterable[Obj], pod_name: str) -> str | None:
    """The newest FailedScheduling message for a pod (Events carry it even when the condition is terse)."""
    newest: tuple[str, str] | None = None
    for event in events:
        obj = event.get("involvedObject") or event.get("regarding") or {}
        if obj.get("name") != pod_name or event.get("reason") != "FailedScheduling":
            continue
        stamp = str(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("metadata", {}).get("creationTimestamp")
            or ""
        )
        if newest is None or stamp >= newest[0]:
            newest = (stamp, str(event.get("message") or event.get("note") or ""))
    return newest[1] if newest else None


def workload_warning(events: Iterable[Obj], workload: str) -> tuple[str, str] | None:
    """The newest FailedCreate warning on the StatefulSet or Job itself (quota, admission, a missing claim):
    (reason, message), or None."""
    newest: tuple[str, str, str] | None = None
    for event in events:
        obj = event.get("involvedObject") or {}
        if obj.get("name") != workload or obj.get("kind") not in ("StatefulSet", "Job"):
            continue
        if event.get("reason") not in ("FailedCreate", "FailedCreatePodSandBox"):
            continue
        stamp = str(event.get("lastTimestamp") or event.get("eventTime") or "")
        if newest is None or stamp >= newest[0]:
            newest = (stamp, str(event.get("reason")), str(event.get("message", "")))
    return (newest[1], newest[2]) if newest else None
