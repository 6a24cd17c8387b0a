"""`kaitoctl logs` and `kaitoctl delete`: acting on workspaces kaitoctl created, found by their labels."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core.errors import InvalidInput, NotFound
from kaitoctl.core.naming import WORKSPACE_LABEL, WorkspaceNames, ownership_selector
from kaitoctl.ops.cluster import WorkspaceRecord, list_records
from kaitoctl.ops.interfaces import AksApi, KubeApi
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress

if TYPE_CHECKING:
    from kaitoctl.adapters.aks import AksTarget
    from kaitoctl.ops.pool import PoolFinder

# ---- logs ---------------------------------------------------------------------------------------------------------


def _pick_pod(pods: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Inference: pod 0 (the leader). Tuning: the newest Job pod."""
    by_name = {p["metadata"]["name"]: p for p in pods}
    if f"{name}-0" in by_name:
        return by_name[f"{name}-0"]
    return sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))[-1]


def _log_pod(kube: KubeApi, namespace: str, name: str, pod: str | None) -> dict[str, Any]:
    """--pod, else the workspace's default pod; a workspace without pods says whether it exists at all."""
    pods, _ = kube.list(resource_path("v1", "Pod", namespace), label_selector=f"{WORKSPACE_LABEL}={name}")
    if not pods:
        records = {r.name: r for r in list_records(kube, namespace)}
        if name not in records:
            raise NotFound(
                f"no kaitoctl workspace {name!r} in namespace {namespace}", hint="`kaitoctl status` lists them"
            )
        raise NotFound(f"workspace {name} has no pods (yet, or any more)", hint="`kaitoctl status` shows why")
    if pod is None:
        return _pick_pod(pods, name)
    chosen = next((p for p in pods if p["metadata"]["name"] == pod), None)
    if chosen is None:
        raise InvalidInput(
            "--pod", f"{pod} is not a pod of {name}", "pods: " + ", ".join(p["metadata"]["name"] for p in pods)
        )
    return chosen


def log_lines(
    kube: KubeApi,
    namespace: str,
    name: str,
    *,
    follow: bool = False,
    container: str | None = None,
    init: bool = False,
    previous: bool = False,
    tail: int | None = None,
    pod: str | None = None,
    since_seconds: int | None = None,
    timestamps: bool = False,
) -> Iterator[str]:
    """The right container's log: the server or trainer by default, init containers on request."""
    chosen = _log_pod(kube, namespace, name, pod)
    pod_name = chosen["metadata"]["name"]
    spec = chosen.get("spec", {})
    init_names = [c["name"] for c in spec.get("initContainers") or []]
    all_names = init_names + [c["name"] for c in spec.get("containers") or []]
    if container is not None and container not in all_names:
        raise InvalidInput(
            "--container", f"{pod_name} has no container {container!r}", "containers: " + ", ".join(all_names)
        )
    if init:
        if not init_names:
            raise InvalidInput("--init", f"{pod_name} has no init containers", None)
        for init_name in init_names:
            yield f"==> {pod_name}/{init_name} <=="
            yield from kube.logs(
                namespace,
                pod_name,
                container=init_name,
                tail_lines=tail,
                previous=previous,
                since_seconds=since_seconds,
                timestamps=timestamps,
            )
        return
    target = container or (name if name in all_names else all_names[-1])
    yield from kube.logs(
        namespace,
        pod_name,
        container=target,
        follow=follow,
        tail_lines=tail,
        previous=previous,
        since_seconds=since_seconds,
        timestamps=timestamps,
    )


# ---- delete -------------------------------------------------------------------------------------------------------

_KINDS = (
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ConfigMap"),
    ("v1", "Pod"),
)


def delete_workspace_objects(
    kube: KubeApi, namespace: str, name: str, *, keep_adapter_volume: bool = False, keep_record: bool = False
) -> list[str]:
    """Delete every object kaitoctl created for a workspace, found by its labels. Pods go with their
    StatefulSet or Job (background propagation). `keep_record`: leave the workspace record (it names the pool,
    and goes last). Returns what was deleted."""
    selector = ownership_selector(name)
    record = WorkspaceNames(name).record
    deleted: list[str] = []
    for api_version, kind in _KINDS:
        if kind == "Pod" or (keep_adapter_volume and kind == "PersistentVolumeClaim"):
            continue
        items, _ = kube.list(resource_path(api_version, kind, namespace), label_selector=selector)
        for item in items:
            if keep_record and kind == "ConfigMap" and item["metadata"]["name"] == record:
                continue
            if kube.delete(resource_path(api_version, kind, namespace, item["metadata"]["name"])):
                deleted.append(f"{kind}/{item['metadata']['name']}")
    return deleted


def wait_until_gone(
    kube: KubeApi,
    namespace: str,
    selector: str,
    kinds: tuple[tuple[str, str], ...],
    timeout_s: float,
    on_left: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Watch until no object of `kinds` matches `selector`; returns what is still there at the deadline."""
    from kaitoctl.ops.watch import Cache, Streams, StreamSpec, drain

    specs = [
        StreamSpec(kind, resource_path(api_version, kind, namespace), label_selector=selector)
        for api_version, kind in kinds
    ]
    streams = Streams(kube, specs).start()
    cache = Cache()
    deadline = time.monotonic() + timeout_s
    left: list[str] = []
    try:
        while True:
            if len(cache.synced) == len(specs):
                left = sorted(f"{key}/{obj['metadata']['name']}" for key in cache.objects for obj in cache.items(key))
                if not left:
                    return []
                if on_left is not None:
                    on_left(left)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return left
            drain(streams, cache, timeout=remaining)
    finally:
        streams.stop()


@dataclass
class DeleteTarget:
    name: str
    namespace: str
    record: WorkspaceRecord | None
    pool: str | None = None  # no record: an AKS agent pool found by its kaitoctl tags


def delete_targets(
    kube: KubeApi, namespace: str, names: list[str], all_: bool, *, finder: PoolFinder | None = None
) -> list[DeleteTarget]:
    """The workspaces to delete. A name without a record (a half-failed run) is still found by what it left:
    labelled objects, or, when an AKS cluster is configured (`finder`), an agent pool tagged with its name.
    --all also takes the tagged pools of the namespace that no record names."""
    records = {r.name: r for r in list_records(kube, namespace)}
    tagged: dict[str, str] = {}
    looked_in_azure = False
    if finder is not None and (all_ or any(n not in records for n in names)):
        pools = finder.pools()  # None: no AKS cluster configured
        looked_in_azure = pools is not None
        for found_pool in pools or []:
            if found_pool.namespace == namespace and found_pool.workspace_name not in records:
                tagged.setdefault(found_pool.workspace_name, found_pool.name)
    if all_:
        found = {
            (obj["metadata"].get("labels") or {}).get(WORKSPACE_LABEL)
            for obj in kube.list(resource_path("v1", "ConfigMap", namespace), label_selector=ownership_selector())[0]
        }
        names = sorted({*records, *(n for n in found if n), *tagged})
    missing = [n for n in names if n not in records and n not in tagged]
    for n in missing:
        # No record (e.g. interrupted before it was written): delete by labels if anything is left.
        items, _ = kube.list(resource_path("v1", "ConfigMap", namespace), label_selector=f"{WORKSPACE_LABEL}={n}")
        leftovers = (
            items
            or kube.list(resource_path("apps/v1", "StatefulSet", namespace), label_selector=f"{WORKSPACE_LABEL}={n}")[0]
        )
        if not leftovers and not all_:
            raise NotFound(
                f"no kaitoctl workspace {n!r} in namespace {namespace}",
                hint="`kaitoctl status -A` lists them"
                + (
                    ""
                    if looked_in_azure
                    else "; an AKS agent pool a failed run left is found by its tags with --resource-group and "
                    "--cluster"
                ),
            )
    return [DeleteTarget(n, namespace, records.get(n), None if n in records else tagged.get(n)) for n in names]


def delete_preview(kube: KubeApi, targets: list[DeleteTarget]) -> list[str]:
    """Everything `delete` would remove, one line per workspace: its objects (by labels) and its pool."""
    lines = []
    for target in targets:
        refs: list[str] = []
        for api_version, kind in _KINDS:
            if kind == "Pod":
                continue
            items, _ = kube.list(
                resource_path(api_version, kind, target.namespace), label_selector=ownership_selector(target.name)
            )
            refs.extend(f"{kind}/{item['metadata']['name']}" for item in items)
        pool = _pool_of(target)
        found = " (found by its tags; no workspace record)" if target.record is None and pool else ""
        from kaitoctl.ops.pool import recorded_adoption

        adopted = recorded_adoption(target.record.raw if target.record else None)
        if adopted is not None and pool:
            found = f" (adopted: given back with {adopted['count']} node(s), not deleted)"
        lines.append(
            f"{target.namespace}/{target.name}: {', '.join(refs) or 'no objects'}"
            + (f"; AKS agent pool {pool}{found}" if pool else "")
        )
    return lines


def adapter_claims_in_use(kube: KubeApi, targets: list[DeleteTarget]) -> list[str]:
    """Adapter PVCs of the targets that a running pod of another workspace mounts ("claim (used by pod)")."""
    names = {t.name for t in targets}
    in_use = []
    for namespace in sorted({t.namespace for t in targets}):
        claims, _ = kube.list(
            resource_path("v1", "PersistentVolumeClaim", namespace), label_selector=ownership_selector()
        )
        ours = {
            c["metadata"]["name"] for c in claims if ((c["metadata"].get("labels") or {}).get(WORKSPACE_LABEL)) in names
        }
        if not ours:
            continue
        pods, _ = kube.list(resource_path("v1", "Pod", namespace))
        for pod in pods:
            if (pod["metadata"].get("labels") or {}).get(WORKSPACE_LABEL) in names:
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for volume in (pod.get("spec") or {}).get("volumes") or []:
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if claim in ours:
                    in_use.append(f"{claim} (used by pod {pod['metadata']['name']})")
    return sorted(set(in_use))


def _pool_of(target: DeleteTarget) -> str | None:
    placement = target.record.placement if target.record else None
    if placement is not None and placement.mode == "pool" and placement.pool:
        return placement.pool
    return target.pool


def delete_workspaces(
    kube: KubeApi,
    targets: list[DeleteTarget],
    opts: RunOptions,
    progress: Progress,
    *,
    keep_pool: bool,
    wait: bool,
    aks: Callable[[AksTarget], AksApi] | None = None,
    finder: PoolFinder | None = None,
    into: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Delete each workspace's objects (by ownership labels), then its node pool, then its record, then wait until
    they are gone. The record goes last: until the pool is released it is what names the pool, so an Azure error
    or Ctrl-C in between leaves a workspace that `kaitoctl delete NAME` finishes (and without the record, the
    pool's tags name its workspace). `aks` stands in for the AKS adapter (tests); `finder` is the one
    `delete_targets` used (its cluster is resolved once); `into` is filled as each workspace is done (what -o json
    reports when a later one fails or the run is interrupted)."""
    from kaitoctl.ops.pool import PoolFinder

    finder = finder if finder is not None else PoolFinder(opts, kube, aks)
    pooled = [t for t in targets if _pool_of(t) is not None]
    aks_target = finder.target() if pooled else None
    if pooled and aks_target is None:
        # Refused before anything is deleted: deleting the objects and the record would orphan the pool.
        pools = ", ".join(f"{t.name} ({_pool_of(t)})" for t in pooled)
        raise InvalidInput(
            "--resource-group/--cluster",
            f"workspace(s) {pools} run on an AKS agent pool kaitoctl created, but no AKS cluster is configured",
            "pass --resource-group and --cluster (or set AZURE_RESOURCE_GROUP and KAITOCTL_AKS_CLUSTER)",
        )
    client = finder.client() if aks_target is not None else None
    wait_s = (opts.timeout_s or 300) if wait else None
    summary = into if into is not None else {}
    for t in targets:
        summary[t.name] = _delete_workspace(kube, t, progress, client, keep_pool=keep_pool, wait_s=wait_s)
    return summary


def _delete_workspace(
    kube: KubeApi,
    target: DeleteTarget,
    progress: Progress,
    aks: AksApi | None,
    *,
    keep_pool: bool,
    wait_s: float | None,
) -> dict[str, Any]:
    """One workspace: its objects, its pool (when `aks` is given), its record; then wait up to `wait_s`."""
    phase = f"delete {target.name}"
    progress.add(phase)
    progress.start(phase, "deleting objects")
    deleted = delete_workspace_objects(kube, target.namespace, target.name, keep_record=True)
    pool_result = None
    pool = _pool_of(target)
    if pool is not None and aks is not None:
        progress.update(phase, "NodePool", f"releasing agent pool {pool}")
        from kaitoctl.ops.pool import recorded_adoption, release_pool

        adopted = recorded_adoption(target.record.raw if target.record else None)
        workspace = f"{target.namespace}/{target.name}"
        pool_result = release_pool(aks, pool, workspace, keep_pool=keep_pool, adopted=adopted)
    record = WorkspaceNames(target.name).record
    if kube.delete(resource_path("v1", "ConfigMap", target.namespace, record)):
        deleted.append(f"ConfigMap/{record}")
    if wait_s is not None:

        def still_there(left: list[str]) -> None:
            progress.update(phase, "Waiting", "still there: " + ", ".join(left[:6]))

        left = wait_until_gone(
            kube, target.namespace, ownership_selector(target.name), _KINDS, wait_s, on_left=still_there
        )
        if left:
            progress.warn(f"{target.name}: still terminating after {wait_s:.0f}s: {', '.join(left[:6])}")
    progress.done(phase, "Deleted", f"{len(deleted)} object(s)" + (f"; pool {pool_result}" if pool_result else ""))
    return {"deleted": deleted, "pool": pool_result}
