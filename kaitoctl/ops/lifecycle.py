"""`kaitoctl stop` / `kaitoctl start`: stop paying for an inference workspace's GPUs and resume it later.

stop scales the StatefulSet to 0 and the AKS pool kaitoctl created to 0 nodes (BYO nodes: only the workload), and
keeps everything else: the workspace record, the inference ConfigMap, Services, adapter claims. What ran before
(replicas, pool size, price) is stored on the record (status.json, key `stopped`) before anything is scaled, so an
interrupted stop re-run keeps the first values and `start` restores them.

start runs the recorded spec again through ops/run.py (plan, preflight, pool scale, apply, wait for
InferenceReady), so it is the same plan a re-run of the original command makes; then the marker goes.

The StatefulSet is scaled by server-side applying the whole rendered object with replicas 0 under kaitoctl's own
field manager: a patch of spec.replicas by another manager would make the next apply (start, or a re-run of
deploy) conflict on that field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kaitoctl.adapters.k8s import STATUS_FIELD_MANAGER, resource_path
from kaitoctl.core.catalog import Catalog
from kaitoctl.core.errors import InvalidInput, NotFound
from kaitoctl.core.naming import WorkspaceNames, ownership_selector
from kaitoctl.ops import cluster
from kaitoctl.ops.cluster import WorkspaceRecord
from kaitoctl.ops.interfaces import AksApi, KubeApi, Obj
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress, Reporter

if TYPE_CHECKING:
    from kaitoctl.adapters.aks import AksTarget

STOPPED = "stopped"  # key of the marker in the record's status.json
STOP, POD_EXIT, POOL = "Stop", "PodsGone", "NodePool"

# (vm size, region) -> USD per node-hour, or None when unknown.
PriceLookup = Callable[[str, str, bool], float | None]  # (vmSize, region, spot) -> USD/hour per node


def stop_marker(status: dict[str, Any]) -> dict[str, Any] | None:
    """The pre-stop state a stop recorded, or None."""
    marker = status.get(STOPPED)
    return marker if isinstance(marker, dict) else None


def workload_replicas(workload: Obj | None) -> int:
    """spec.replicas of the StatefulSet (0 when it is gone)."""
    if workload is None:
        return 0
    value = (workload.get("spec") or {}).get("replicas")
    return int(value) if isinstance(value, int) else 1  # the API server defaults an unset replicas to 1


def is_stopped(record: WorkspaceRecord, workload: Obj | None) -> bool:
    """Stopped: a stop recorded its marker and the workload is still at 0 (a later deploy scales it back up and
    makes the marker stale: the workspace is then running, whatever the marker says)."""
    return (
        record.spec.inference is not None and stop_marker(record.status) is not None and not workload_replicas(workload)
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(kube: KubeApi, namespace: str, name: str, verb: str) -> WorkspaceRecord:
    """The workspace's record; refused for a tuning workspace (its Job is a run to completion, not a server)."""
    record = cluster.get_record(kube, namespace, WorkspaceNames(name).record)
    if record is None:
        raise NotFound(f"no kaitoctl workspace {name!r} in namespace {namespace}", hint="`kaitoctl status` lists them")
    if record.spec.tuning is not None:
        state = record.status.get("state")
        running = state not in ("Succeeded", "Failed")
        raise InvalidInput(
            "NAME",
            f"{name} is a tuning workspace"
            + (" with a run in progress" if running else f" ({state}; its GPU pool is released after the run)")
            + f": {verb} applies to inference workspaces",
            f"follow it with `kaitoctl status {name} -n {namespace} -w`, or stop it for good with "
            f"`kaitoctl delete {name} -n {namespace}`"
            if running
            else f"serve its adapter with `kaitoctl deploy --from-tuning {name} -n {namespace}`",
        )
    return record


def write_status(kube: KubeApi, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Replace the record's status.json (the status field manager owns that key; the spec's manager never sets
    it, so re-applying the spec keeps it)."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": WorkspaceNames(name).record, "namespace": namespace},
        "data": {"status.json": json.dumps(status, sort_keys=True)},
    }
    kube.apply(body, field_manager=STATUS_FIELD_MANAGER, force=True)


def _run_options(record: WorkspaceRecord, opts: RunOptions) -> RunOptions:
    """A workspace that ran on labelled nodes (`--no-pool`) keeps doing so even when an AKS target is configured;
    one on a Spot pool starts on that Spot pool (a regular plan would be refused: the priority cannot change)."""
    placement = record.placement
    return replace(
        opts,
        no_pool=opts.no_pool or (placement is not None and placement.mode == "selector"),
        spot=opts.spot or (placement is not None and placement.spot),
    )


def _pool_target(record: WorkspaceRecord, opts: RunOptions, kube: KubeApi) -> AksTarget | None:
    """The AKS cluster of a workspace on a pool kaitoctl created (refused when none is configured)."""
    placement = record.placement
    if placement is None or placement.mode != "pool" or not placement.pool:
        return None
    from kaitoctl.ops.pool import resolve_target

    target = resolve_target(opts, kube)
    if target is None:
        raise InvalidInput(
            "--resource-group/--cluster",
            f"workspace {record.name} runs on AKS agent pool {placement.pool}, but no AKS cluster is configured",
            "pass --resource-group and --cluster (or set AZURE_RESOURCE_GROUP and KAITOCTL_AKS_CLUSTER)",
        )
    return target


def _stopped_workload(record: WorkspaceRecord, opts: RunOptions, catalog: Catalog, kube: KubeApi) -> Obj:
    """The StatefulSet exactly as a run of the recorded spec applies it, with replicas 0."""
    from kaitoctl.core.render import render_plan
    from kaitoctl.ops.run import PlacementChoice, plan_for, resolve_placement

    spec = replace(record.spec, namespace=record.namespace)
    if record.placement is not None and record.placement.mode == "pool":
        where = PlacementChoice("pool")  # sized from the catalog, as the run sized it; no Azure call needed
    else:
        where = resolve_placement(spec, opts, kube, catalog)
    plan = plan_for(spec, opts, catalog, where)
    workload = next(o for o in render_plan(plan, catalog) if o["kind"] == "StatefulSet")
    workload["spec"]["replicas"] = 0
    return workload


def _pool_state(aks: AksApi, pool: str) -> dict[str, Any]:
    """The pool's size now: name, count (0 when it is gone), vmSize, and whether it is a Spot pool."""
    found = aks.get_pool(pool)
    props = ((found or {}).get("properties") or found or {}) if found else {}
    state: dict[str, Any] = {"name": pool, "count": int(props.get("count") or 0), "vmSize": props.get("vmSize") or None}
    if props.get("scaleSetPriority") == "Spot":
        state["spot"] = True
    return state


def _priced(aks: AksApi, pool: dict[str, Any], price: PriceLookup | None) -> dict[str, Any]:
    """The pool state with what it costs per hour (None: unknown), which `status` shows as what a stop saves."""
    per_node = None
    if price is not None and pool["vmSize"] and pool["count"]:
        # A Spot pool is priced at the Spot meter's rate, as status and the plan price it.
        per_node = price(str(pool["vmSize"]), str(aks.cluster().get("location", "")), bool(pool.get("spot")))
    return {**pool, "usdPerHour": None if per_node is None else round(per_node * pool["count"], 4)}


def default_price(vm_size: str, region: str, spot: bool) -> float | None:
    from kaitoctl.adapters.aks import price_lookup

    return price_lookup(vm_size, region, spot=spot)[0]


def stop_workspace(
    kube: KubeApi,
    namespace: str,
    name: str,
    opts: RunOptions,
    catalog: Catalog,
    reporter: Reporter,
    *,
    wait: bool = True,
    aks: Callable[[AksTarget], AksApi] | None = None,
    price: PriceLookup | None = default_price,
) -> dict[str, Any]:
    """Record the pre-stop state, scale the workload to 0, wait for its pods to go, scale the pool to 0.

    Each step is idempotent, so a re-run after Ctrl-C finishes the stop (and keeps the first recorded state);
    a stopped workspace is reported as already stopped and nothing is written."""
    record = _record(kube, namespace, name, "stop")
    opts = _run_options(record, opts)
    workload_path = resource_path("apps/v1", "StatefulSet", namespace, WorkspaceNames(name).workload)
    workload = kube.get(workload_path)
    target = _pool_target(record, opts, kube)
    client: AksApi | None = None
    if target is not None:
        from kaitoctl.adapters.aks import Aks

        client = aks(target) if aks is not None else Aks(target)
    marker = stop_marker(record.status) if not workload_replicas(workload) else None
    pool_name = record.placement.pool if target is not None and record.placement is not None else None
    pool_now = _pool_state(client, pool_name) if client is not None and pool_name else None
    result: dict[str, Any] = {"workspace": name, "namespace": namespace, "state": "Stopped"}
    if marker is not None and not (pool_now and pool_now["count"]):
        result.update(alreadyStopped=True, stopped=marker)
        return result

    progress = Progress(reporter, [STOP, POD_EXIT] + ([POOL] if client is not None else []))
    stopped_workload = _stopped_workload(record, opts, catalog, kube)  # before any write: may refuse
    if marker is None:  # first stop (a re-run after Ctrl-C keeps what the first one recorded)
        marker = {"at": _now(), "replicas": workload_replicas(workload), "pool": None}
        if client is not None and pool_now is not None:
            marker["pool"] = _priced(client, pool_now, price)
        write_status(kube, namespace, name, {**record.status, STOPPED: marker})
    progress.start(STOP, "scaling the workload to 0")
    kube.apply(stopped_workload)
    progress.done(STOP, "Scaled", f"StatefulSet {name}: {marker['replicas']} → 0 replicas")
    if wait:
        _wait_pods_gone(kube, namespace, name, opts, progress)
    else:
        progress.skip(POD_EXIT, "--no-wait")
    pool_result = None
    if client is not None and pool_name:
        from kaitoctl.ops.pool import recorded_adoption, release_pool

        progress.start(POOL, f"scaling agent pool {pool_name} to 0")
        # An adopted pool is given back with the count it had (never below it), not scaled to 0.
        adopted = recorded_adoption(record.raw)
        pool_result = release_pool(client, pool_name, f"{namespace}/{name}", keep_pool=True, adopted=adopted)
        progress.done(POOL, "Succeeded", f"agent pool {pool_name}: {pool_result}")
    result.update(alreadyStopped=False, stopped=marker, pool=pool_result, phases=progress.to_list())
    return result


def _wait_pods_gone(kube: KubeApi, namespace: str, name: str, opts: RunOptions, progress: Progress) -> None:
    """The pods end before their nodes go (a pool scaled under running pods kills them without a graceful stop)."""
    from kaitoctl.ops.manage import wait_until_gone

    progress.start(POD_EXIT, "waiting for the pods to end")

    def still(left: list[str]) -> None:
        progress.update(POD_EXIT, "Terminating", ", ".join(left[:4]))

    left = wait_until_gone(
        kube, namespace, ownership_selector(name), (("v1", "Pod"),), opts.timeout_s or 300, on_left=still
    )
    if left:
        progress.warn(f"{name}: still terminating: {', '.join(left[:4])}; scaling the pool anyway")
        progress.done(POD_EXIT, "Timeout", ", ".join(left[:4]))
    else:
        progress.done(POD_EXIT, "Gone", "no pods left")


def start_workspace(
    kube: KubeApi,
    namespace: str,
    name: str,
    opts: RunOptions,
    catalog: Catalog,
    reporter: Reporter,
    *,
    aks: Callable[[AksTarget], AksApi] | None = None,
) -> dict[str, Any]:
    """Run the recorded spec again (the same plan: pool size and replicas from the catalog, as the first run),
    wait for InferenceReady, then drop the stop marker. On a running workspace it is a re-run that changes
    nothing and reports it ready."""
    from kaitoctl.ops.run import run_workspace

    record = _record(kube, namespace, name, "start")
    marker = stop_marker(record.status)
    spec = replace(record.spec, namespace=namespace)
    try:
        result = run_workspace(spec, _run_options(record, opts), catalog, reporter, kube=kube, aks=aks)
    finally:
        if opts.result is not None:  # the -o json document says which verb ran, also when it failed
            opts.result["action"] = "start"
    result["action"] = "start"
    if marker is not None:
        result["restored"] = marker
        pool = (marker.get("pool") or {}) if isinstance(marker.get("pool"), dict) else {}
        planned = (result.get("plan") or {}).get("nodes")
        if pool.get("count") and planned is not None and planned != pool["count"]:
            reporter.message(
                "warning",
                f"the pool had {pool['count']} node(s) before the stop; the plan now asks for {planned}",
            )
        if result.get("state") == "Ready" or opts.no_wait:
            latest = cluster.get_record(kube, namespace, WorkspaceNames(name).record)
            status = dict(latest.status if latest is not None else record.status)
            status.pop(STOPPED, None)
            write_status(kube, namespace, name, status)
    return result
