"""`kaitoctl status`: Kaito's printer columns, computed live from a handful of list calls (not a get per object)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core import collector
from kaitoctl.core import conditions as cond
from kaitoctl.core.naming import RECORD_KIND_LABEL, WORKSPACE_LABEL, WorkspaceNames, ownership_selector
from kaitoctl.ops.cluster import BrokenRecord, WorkspaceRecord, list_all_records
from kaitoctl.ops.interfaces import KubeApi
from kaitoctl.ops.lifecycle import is_stopped, stop_marker


@dataclass
class WorkspaceStatus:
    record: WorkspaceRecord
    conditions: dict[str, cond.Condition]
    state: str
    diagnosis: cond.Diagnosis | None
    pods: list[dict[str, Any]]  # this workspace's pods, from the same list call
    nodes_held: int = 0  # nodes it is paying for now (a pool's nodes that exist; the nodes it runs on)
    region: str | None = None  # from its nodes' topology.kubernetes.io/region label (AKS sets it)
    spot: bool = False  # its nodes are Spot nodes (`--spot`): priced at the Spot rate

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

    @property
    def pool(self) -> str | None:
        placement = self.record.placement
        return placement.pool if placement is not None and placement.mode == "pool" else None

    @property
    def endpoint(self) -> str | None:
        """The in-cluster URL of an inference workspace's Service (what `deploy` prints); None for tuning."""
        if self.record.spec.inference is None:
            return None
        return f"http://{WorkspaceNames(self.name).service}.{self.namespace}.svc.cluster.local:80"

    @property
    def sku(self) -> str:
        placement = self.record.placement
        return (placement.instance_type if placement is not None else None) or self.instance_type

    def usd_per_hour(self) -> float | None:
        """Cached retail price × the nodes held; 0 when it holds none; None when the price is not cached (never a
        network call: status stays offline-fast)."""
        if self.nodes_held == 0:
            return 0.0
        if not self.region or not self.sku:
            return None
        from kaitoctl.adapters.aks import cached_price

        price = cached_price(self.sku, self.region, spot=self.spot)
        return None if price is None else round(price * self.nodes_held, 4)

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
            **({"stopped": stop_marker(self.record.status)} if self.state == "Stopped" else {}),
            "pool": self.pool,
            "endpoint": self.endpoint,
            "usdPerHour": self.usd_per_hour(),
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
    # A cleanup that did not finish may have left the pool: its nodes are still looked at (and still cost).
    released = finished and record.status.get("cleanup") != "pending"
    if record.placement is not None and not (released and workload is None):
        conditions[cond.RESOURCE_READY] = cond.resource_ready(record.placement, nodes)
    else:
        conditions[cond.RESOURCE_READY] = cond.Condition(cond.RESOURCE_READY, "Unknown", "Released", "tuning finished")
    if spec.inference is not None and is_stopped(record, workload):
        return _stopped_status(record, conditions, mine)
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


def _stopped_status(
    record: WorkspaceRecord, conditions: dict[str, cond.Condition], pods: list[dict[str, Any]]
) -> WorkspaceStatus:
    """`kaitoctl stop`ped: not ready on purpose. The reason says since when, what it no longer costs, how to
    resume."""
    marker = stop_marker(record.status) or {}
    pool = marker.get("pool") if isinstance(marker.get("pool"), dict) else None
    if pool is not None:
        conditions[cond.RESOURCE_READY] = cond.Condition(
            cond.RESOURCE_READY, "False", "Stopped", f"agent pool {pool.get('name')} scaled to 0"
        )
    message = f"stopped at {marker.get('at')}: {marker.get('replicas')} replica(s)"
    if pool is not None:
        price = pool.get("usdPerHour")
        message += f", agent pool {pool.get('name')} {pool.get('count')} → 0 × {pool.get('vmSize')}"
        message += f" (${price:.2f}/h no longer spent)" if isinstance(price, (int, float)) else " (price unknown)"
    message += f"; resume: kaitoctl start {record.name} -n {record.namespace}"
    for kind in (cond.INFERENCE_READY, cond.WORKSPACE_SUCCEEDED):
        conditions[kind] = cond.Condition(kind, "False", "Stopped", message)
    diagnosis = cond.Diagnosis("Stopped", message, terminal=False)
    return WorkspaceStatus(record, conditions, "Stopped", diagnosis, pods)


class NodeIndex:
    """Nodes by name and by label, so each workspace's ResourceReady looks at its own candidates only (status over
    many workspaces would otherwise scan every node once per workspace)."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.by_name: dict[str, dict[str, Any]] = {}
        self.by_label: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for node in nodes:
            meta = node.get("metadata", {})
            self.by_name[str(meta.get("name"))] = node
            for key, value in (meta.get("labels") or {}).items():
                self.by_label.setdefault((key, value), []).append(node)

    def candidates(self, placement: cond.PlacementInfo) -> list[dict[str, Any]]:
        if placement.mode == "nodes":
            return [self.by_name[n] for n in placement.node_names if n in self.by_name]
        if not placement.selector:
            return self.nodes
        narrowest = min((self.by_label.get(item, []) for item in placement.selector.items()), key=len)
        return [n for n in narrowest if placement.matches(n)]


def _ws_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return str(meta.get("namespace", "")), str((meta.get("labels") or {}).get(WORKSPACE_LABEL, ""))


def _by_workspace(pods: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pod in pods:
        grouped.setdefault(_ws_key(pod), []).append(pod)
    return grouped


def _workloads(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o['metadata'].get('namespace')}/{o['metadata']['name']}": o for o in items}


def collect(
    kube: KubeApi, namespace: str | None, name: str | None = None, broken: list[BrokenRecord] | None = None
) -> list[WorkspaceStatus]:
    """Five list calls, whatever the number of workspaces: the records, then StatefulSets, Jobs, pods and nodes
    together (two round trips). Records that cannot be read back are appended to `broken` (when given) instead of
    failing the whole namespace."""
    with collector.paused():  # thousands of objects built, none cyclic (core/collector.py)
        return _collect(kube, namespace, name, broken)


def _collect(
    kube: KubeApi, namespace: str | None, name: str | None, broken: list[BrokenRecord] | None
) -> list[WorkspaceStatus]:
    from kaitoctl.ops.readahead import ReadAhead

    records, unreadable = list_all_records(kube, namespace)
    if broken is not None:
        broken.extend(unreadable)
    if name is not None:
        records = [r for r in records if r.name == name]
    if not records:
        return []
    selector = ownership_selector()
    workload_paths = [resource_path(api_version, kind, namespace) for api_version, kind in _WORKLOAD_KINDS]
    pods_path, nodes_path = resource_path("v1", "Pod", namespace), resource_path("v1", "Node")
    reads = ReadAhead(kube).send(
        lists=[*((p, selector, None) for p in workload_paths), (pods_path, selector, None), (nodes_path, None, None)]
    )
    try:
        items: list[dict[str, Any]] = []
        for path in workload_paths:
            items += reads.list(path, label_selector=selector)[0]
        workloads = _workloads(items)
        pods = _by_workspace(reads.list(pods_path, label_selector=selector)[0])
        nodes = NodeIndex(reads.list(nodes_path)[0])
    finally:
        reads.close()
    statuses: list[WorkspaceStatus] = []
    for record in records:
        status = _status_or_broken(record, workloads, pods.get((record.namespace, record.name), []), nodes, broken)
        if status is not None:
            statuses.append(status)
    return statuses


_WORKLOAD_KINDS = (("apps/v1", "StatefulSet"), ("batch/v1", "Job"))


def _status_or_broken(
    record: WorkspaceRecord,
    workloads: dict[str, dict[str, Any]],
    pods: list[dict[str, Any]],
    nodes: NodeIndex,
    broken: list[BrokenRecord] | None,
) -> WorkspaceStatus | None:
    """A record that parses but cannot be evaluated is reported as broken; the others are still listed."""
    try:
        return _status(record, workloads, pods, nodes)
    except (KeyError, ValueError, TypeError, AttributeError, AssertionError) as exc:
        if broken is not None:
            broken.append(BrokenRecord(record.name, record.namespace, f"unreadable ({type(exc).__name__})"))
        return None


def _status(
    record: WorkspaceRecord,
    workloads: dict[str, dict[str, Any]],
    pods: list[dict[str, Any]],
    nodes: NodeIndex,
) -> WorkspaceStatus:
    candidates = nodes.candidates(record.placement) if record.placement is not None else []
    status = compute_status(record, workloads, pods, candidates)
    status.nodes_held, status.region = _held(status, candidates)
    status.spot = any((n.get("metadata", {}).get("labels") or {}).get(PRIORITY_LABEL) == "spot" for n in candidates)
    return status


REGION_LABEL = "topology.kubernetes.io/region"
# AKS labels a Spot pool's nodes kubernetes.azure.com/scalesetpriority=spot
# (learn.microsoft.com/azure/aks/spot-node-pool).
PRIORITY_LABEL = "kubernetes.azure.com/scalesetpriority"


def _held(status: WorkspaceStatus, candidates: list[dict[str, Any]]) -> tuple[int, str | None]:
    """The nodes a workspace pays for now, and their region. Pool: the pool's nodes that exist (0 once released
    or scaled to 0). Existing nodes: the ones it uses, while its pods may run there."""
    placement = status.record.placement
    released = status.conditions.get(cond.RESOURCE_READY)
    if placement is None or not candidates or (released is not None and released.reason == "Released"):
        return 0, None
    region = next(
        (str(r) for n in candidates if (r := (n.get("metadata", {}).get("labels") or {}).get(REGION_LABEL))), None
    )
    held = len(candidates) if placement.mode == "pool" else min(len(candidates), placement.node_count)
    return held, region


def _version(obj: dict[str, Any] | None) -> str:
    return "" if obj is None else str(obj.get("metadata", {}).get("resourceVersion", ""))


class StatusView:
    """Statuses kept current from a watch cache. A change recomputes only the workspaces whose record, workload,
    pods or candidate nodes changed (by resourceVersion), so a redraw over a thousand workspaces stays cheap."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._records: dict[str, tuple[str, WorkspaceRecord | None]] = {}  # cache key -> (resourceVersion, parsed)
        self._memo: dict[tuple[str, str], tuple[tuple[Any, ...], WorkspaceStatus]] = {}
        self._nodes_version: tuple[str, ...] | None = None
        self._nodes = NodeIndex([])

    def update(
        self,
        records: dict[str, dict[str, Any]],
        workloads: list[dict[str, Any]],
        pods: list[dict[str, Any]],
        nodes: list[dict[str, Any]],
    ) -> list[WorkspaceStatus]:
        from kaitoctl.ops.cluster import parse_record

        parsed: dict[str, tuple[str, WorkspaceRecord | None]] = {}
        for cache_key, obj in records.items():
            version = _version(obj)
            known = self._records.get(cache_key)
            parsed[cache_key] = known if known is not None and known[0] == version else (version, parse_record(obj))
        self._records = parsed
        nodes_version = tuple(_version(n) for n in nodes)
        if nodes_version != self._nodes_version:
            self._nodes_version, self._nodes = nodes_version, NodeIndex(nodes)
        by_name = _workloads(workloads)
        by_ws = _by_workspace(pods)
        memo: dict[tuple[str, str], tuple[tuple[Any, ...], WorkspaceStatus]] = {}
        out = []
        for version, record in parsed.values():
            if record is None or (self.name is not None and record.name != self.name):
                continue
            ws = (record.namespace, record.name)
            mine = by_ws.get(ws, [])
            workload = by_name.get(f"{record.namespace}/{record.name}")
            inputs = (version, _version(workload), tuple(_version(p) for p in mine), self._nodes_version)
            known_status = self._memo.get(ws)
            if known_status is not None and known_status[0] == inputs:
                status: WorkspaceStatus | None = known_status[1]
            else:
                status = _status_or_broken(record, by_name, mine, self._nodes, None)
            if status is None:
                continue
            memo[ws] = (inputs, status)
            out.append(status)
        self._memo = memo
        return sorted(out, key=lambda s: (s.namespace, s.name))


def watch_statuses(kube: KubeApi, namespace: str | None, name: str | None) -> Iterator[list[WorkspaceStatus]]:
    """Recompute on every change of the records, workloads, pods or nodes: one watch per kind, not per workspace."""
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
    view = StatusView(name)
    settled = False
    try:
        while True:
            drain(streams, cache, timeout=3600)
            if len(cache.synced) < len(specs):
                continue
            statuses = view.update(
                cache.objects.get("records", {}),
                cache.items("sts") + cache.items("jobs"),
                cache.items("pods"),
                cache.items("nodes"),
            )
            if not settled:  # the first full snapshot: most of it lives as long as the watch
                collector.settle()
                settled = True
            yield statuses
    finally:
        streams.stop()
