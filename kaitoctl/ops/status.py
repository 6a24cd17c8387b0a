"""`kaitoctl status`: Kaito's printer columns, computed live from a handful of list calls (not a get per object)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core import conditions as cond
from kaitoctl.core.naming import RECORD_KIND_LABEL, WORKSPACE_LABEL, ownership_selector
from kaitoctl.ops.cluster import BrokenRecord, WorkspaceRecord, list_all_records
from kaitoctl.ops.interfaces import KubeApi


@dataclass
class WorkspaceStatus:
    record: WorkspaceRecord
    conditions: dict[str, cond.Condition]
    state: str
    diagnosis: cond.Diagnosis | None
    pods: list[dict[str, Any]]  # this workspace's pods, from the same list call

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def namespace(self) -> str:
        return self.record.namespace

    @property
    def mode(self) -> str:
        return self.record.mode

    @property
    def preset(self) -> str:
        return self.record.spec.preset

    @property
    def instance_type(self) -> str:
        return self.record.spec.resource.instance_type or ""

    @property
    def created(self) -> str:
        return self.record.created

    @property
    def output(self) -> dict[str, Any] | None:
        return self.record.status.get("output")

    def column(self, kind: str) -> str:
        found = self.conditions.get(kind)
        return found.status if found else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "mode": self.mode,
            "preset": self.preset,
            "instanceType": self.instance_type,
            "state": self.state,
            "conditions": [
                {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
                for c in self.conditions.values()
            ],
            "reason": None
            if self.diagnosis is None
            else {"reason": self.diagnosis.reason, "message": self.diagnosis.message, "pod": self.diagnosis.pod},
            "output": self.output,
            "creationTimestamp": self.created,
        }


def age(created: str, now: datetime | None = None) -> str:
    """kubectl's AGE column."""
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "?"
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 3600 * 2:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def compute_status(
    record: WorkspaceRecord,
    workloads: dict[str, dict[str, Any]],
    pods: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
) -> WorkspaceStatus:
    spec = record.spec
    mine = [p for p in pods if (p["metadata"].get("labels") or {}).get(WORKSPACE_LABEL) == record.name]
    workload = workloads.get(f"{record.namespace}/{record.name}")
    conditions: dict[str, cond.Condition] = {}
    finished = record.status.get("state") in ("Succeeded", "Failed") and spec.tuning is not None
    if record.placement is not None and not (finished and workload is None):
        conditions[cond.RESOURCE_READY] = cond.resource_ready(record.placement, nodes)
    else:
        conditions[cond.RESOURCE_READY] = cond.Condition(cond.RESOURCE_READY, "Unknown", "Released", "tuning finished")
    if spec.inference is not None:
        conditions[cond.INFERENCE_READY] = cond.inference_ready(workload, mine)
        conditions[cond.WORKSPACE_SUCCEEDED] = cond.workspace_succeeded("inference", workload, mine)
        state = "Ready" if conditions[cond.INFERENCE_READY].true else "NotReady"
    else:
        if workload is None and finished:
            ok = record.status.get("state") == "Succeeded"
            conditions[cond.JOB_STARTED] = cond.Condition(cond.JOB_STARTED, "True", "WorkspaceTuningJobStatusStarted")
            conditions[cond.WORKSPACE_SUCCEEDED] = cond.Condition(
                cond.WORKSPACE_SUCCEEDED,
                "True" if ok else "False",
                "workspaceSucceeded" if ok else "workspaceFailed",
                "Job cleaned up",
            )
            state = str(record.status.get("state"))
        else:
            conditions[cond.JOB_STARTED] = cond.job_started(workload, mine)
            conditions[cond.WORKSPACE_SUCCEEDED] = cond.workspace_succeeded("tuning", workload, mine)
            if cond.job_succeeded(workload):
                state = "Succeeded"
            elif cond.job_failed(workload) or record.status.get("state") == "Failed":
                state = "Failed"
            else:
                state = "Running" if conditions[cond.JOB_STARTED].true else "Pending"
    diagnosis = None if state in ("Ready", "Succeeded") else cond.diagnose(spec.mode, workload, mine, record.name)
    return WorkspaceStatus(record, conditions, state, diagnosis, mine)


def collect(
    kube: KubeApi, namespace: str | None, name: str | None = None, broken: list[BrokenRecord] | None = None
) -> list[WorkspaceStatus]:
    """Five list calls, whatever the number of workspaces: records, StatefulSets, Jobs, pods, nodes. Records that
    cannot be read back are appended to `broken` (when given) instead of failing the whole namespace."""
    records, unreadable = list_all_records(kube, namespace)
    if broken is not None:
        broken.extend(unreadable)
    if name is not None:
        records = [r for r in records if r.name == name]
    if not records:
        return []
    selector = ownership_selector()
    workloads: dict[str, dict[str, Any]] = {}
    for api_version, kind in (("apps/v1", "StatefulSet"), ("batch/v1", "Job")):
        items, _ = kube.list(resource_path(api_version, kind, namespace), label_selector=selector)
        for item in items:
            meta = item["metadata"]
            workloads[f"{meta.get('namespace')}/{meta['name']}"] = item
    pods, _ = kube.list(resource_path("v1", "Pod", namespace), label_selector=selector)
    nodes, _ = kube.list(resource_path("v1", "Node"))
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_ns.setdefault(pod["metadata"].get("namespace", ""), []).append(pod)
    statuses: list[WorkspaceStatus] = []
    for record in records:
        try:
            statuses.append(compute_status(record, workloads, by_ns.get(record.namespace, []), nodes))
        except (KeyError, ValueError, TypeError, AttributeError, AssertionError) as exc:
            if broken is not None:
                broken.append(BrokenRecord(record.name, record.namespace, f"unreadable ({type(exc).__name__})"))
    return statuses


def watch_statuses(kube: KubeApi, namespace: str | None, name: str | None) -> Iterator[list[WorkspaceStatus]]:
    """Recompute on every change of the records, workloads, pods or nodes (watches, not polling)."""
    from kaitoctl.ops.cluster import parse_record
    from kaitoctl.ops.watch import Cache, Streams, StreamSpec, drain

    selector = ownership_selector()
    specs = [
        StreamSpec(
            "records",
            resource_path("v1", "ConfigMap", namespace),
            label_selector=f"{selector},{RECORD_KIND_LABEL}=workspace",
        ),
        StreamSpec("sts", resource_path("apps/v1", "StatefulSet", namespace), label_selector=selector),
        StreamSpec("jobs", resource_path("batch/v1", "Job", namespace), label_selector=selector),
        StreamSpec("pods", resource_path("v1", "Pod", namespace), label_selector=selector),
        StreamSpec("nodes", resource_path("v1", "Node")),
    ]
    streams = Streams(kube, specs).start()
    cache = Cache()
    try:
        while True:
            drain(streams, cache, timeout=3600)
            if len(cache.synced) < len(specs):
                continue
            records = [r for r in map(parse_record, cache.items("records")) if r is not None]
            if name is not None:
                records = [r for r in records if r.name == name]
            workloads = {
                f"{o['metadata'].get('namespace')}/{o['metadata']['name']}": o
                for o in cache.items("sts") + cache.items("jobs")
            }
            pods = cache.items("pods")
            nodes = cache.items("nodes")
            yield [
                compute_status(r, workloads, [p for p in pods if p["metadata"].get("namespace") == r.namespace], nodes)
                for r in sorted(records, key=lambda r: (r.namespace, r.name))
            ]
    finally:
        streams.stop()
