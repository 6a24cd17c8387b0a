"""tune / deploy / apply against a real cluster: plan → preflight → (pool) → apply → wait → result.

Everything that can be checked is checked before the first write: the plan's blockers, immutable-field changes
against what kaitoctl applied last time, existing nodes, referenced ConfigMaps and Secrets, Azure quota, and a
server-side dry-run of every object. Writes are server-side applies with field manager `kaitoctl`, so a re-run of
the same command changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kaitoctl.adapters.k8s import STATUS_FIELD_MANAGER, resource_path
from kaitoctl.core import conditions as cond
from kaitoctl.core.catalog import Catalog, Sku
from kaitoctl.core.errors import Declined, Interrupted, InvalidInput, KaitoctlError, OperationFailed
from kaitoctl.core.manifests import object_ref
from kaitoctl.core.naming import WORKSPACE_LABEL, WorkspaceNames, ownership_selector
from kaitoctl.core.plan import DEFAULT_NAMESPACE, TUNING_OUTPUT_DIR, PlacementMode, Plan, build_plan
from kaitoctl.core.render import render_plan
from kaitoctl.core.sizing import readiness_timeout_s
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.core.validation import (
    check_inference_config,
    check_training_config,
    immutable_changes,
    validate_spec,
)
from kaitoctl.ops import cluster
from kaitoctl.ops.cluster import WorkspaceRecord
from kaitoctl.ops.interfaces import AksApi, KubeApi, KubeReader, Obj
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress, Reporter
from kaitoctl.ops.wait import Waiter, WaitOutcome, WaitTarget

if TYPE_CHECKING:
    from kaitoctl.adapters.aks import AksTarget
    from kaitoctl.core.ranking import Market
    from kaitoctl.ops.pool import PoolOperations
    from kaitoctl.ops.readahead import ListQuery

NODE_POOL, APPLY, CLEANUP = "NodePool", "Apply", "Cleanup"

# Per-phase budgets when no --timeout is given.
RESOURCE_TIMEOUT_POOL_S = 30 * 60
RESOURCE_TIMEOUT_EXISTING_S = 5 * 60
JOB_START_TIMEOUT_S = 30 * 60
TUNING_TIMEOUT_S = 48 * 3600


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- placement ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementChoice:
    """Where the pods go: an AKS pool (and its cluster), named nodes, or nodes found by labels."""

    mode: PlacementMode
    aks_target: AksTarget | None = None  # mode "pool"
    ready_nodes: list[Obj] = field(default_factory=list)  # modes "nodes"/"selector": the Ready candidates
    sku: Sku | None = None  # modes "nodes"/"selector": the candidates' GPU configuration


def resolve_placement(spec: WorkspaceSpec, opts: RunOptions, kube: KubeApi, catalog: Catalog) -> PlacementChoice:
    """The placement, and for existing nodes the Ready candidates and their GPUs (checked before any write)."""
    mode, aks_target = _choose_placement(spec, opts, kube)
    if mode == "pool":
        return PlacementChoice(mode, aks_target=aks_target)
    nodes, _ = kube.list(resource_path("v1", "Node"))
    ready, sku = _existing_nodes_sku(spec, mode, nodes, catalog)
    return PlacementChoice(mode, ready_nodes=ready, sku=sku)


def _choose_placement(spec: WorkspaceSpec, opts: RunOptions, kube: KubeApi) -> tuple[PlacementMode, AksTarget | None]:
    """pool (an AKS target is known), nodes (--node / preferredNodes) or selector (existing labelled nodes)."""
    if spec.resource.preferred_nodes:
        return "nodes", None
    if opts.no_pool:
        return "selector", None
    from kaitoctl.ops.pool import resolve_target

    target = resolve_target(opts, kube)
    if target is not None:
        return "pool", target
    if spec.resource.match_labels or spec.resource.match_expressions:
        return "selector", None
    raise _no_placement()


def _no_placement() -> InvalidInput:
    return InvalidInput(
        "--node/--label",
        "no AKS cluster to create a node pool in, and no existing nodes chosen",
        "use an AKS kube context or pass --resource-group and --cluster; or run on existing GPU nodes with "
        "--node NAME, or --label KEY=VALUE --no-pool",
    )


def check_placement_possible(spec: WorkspaceSpec, opts: RunOptions, kube: KubeApi) -> None:
    """The refusal `_choose_placement` would reach when nothing names an AKS cluster or nodes, decided from the
    flags and the kube context alone: bad input is refused before the first request to the cluster."""
    from kaitoctl.ops.pool import is_aks_server

    res = spec.resource
    if res.preferred_nodes or opts.no_pool or res.match_labels or res.match_expressions:
        return
    if opts.resource_group or opts.aks_cluster or is_aks_server(kube.context.server):
        return
    raise _no_placement()


def _existing_nodes_sku(
    spec: WorkspaceSpec, mode: PlacementMode, nodes: list[Obj], catalog: Catalog
) -> tuple[list[Obj], Sku]:
    """The nodes a nodes/selector workspace will use, checked before anything is written, and their GPU config."""
    chosen = _chosen_nodes(spec, mode, nodes)
    not_ready = [n["metadata"]["name"] for n in chosen if not cond.node_ready(n)]
    if not_ready and mode == "nodes":
        raise InvalidInput("--node", f"node(s) not Ready: {', '.join(not_ready)}", "pick Ready nodes")
    ready = [n for n in chosen if cond.node_ready(n)]
    if not ready:
        raise InvalidInput("--label", "none of the matching nodes is Ready", "check `kubectl get nodes`")
    return ready, _uniform_sku(spec, mode, ready, catalog)


def _chosen_nodes(spec: WorkspaceSpec, mode: PlacementMode, nodes: list[Obj]) -> list[Obj]:
    """--node: the named nodes (which must exist and carry the selector's labels); else the labels' matches."""
    labels = dict(spec.resource.match_labels)
    if mode == "nodes":
        by_name = {n["metadata"]["name"]: n for n in nodes}
        missing = [n for n in spec.resource.preferred_nodes if n not in by_name]
        if missing:
            raise InvalidInput("--node", f"node(s) not found: {', '.join(missing)}", "check `kubectl get nodes`")
        chosen = [by_name[n] for n in spec.resource.preferred_nodes]
        for node in chosen:  # as in Kaito, preferred nodes must also match the label selector
            node_labels = node["metadata"].get("labels") or {}
            wrong = {k: v for k, v in labels.items() if node_labels.get(k) != v}
            if wrong:
                raise InvalidInput(
                    "--node",
                    f"node {node['metadata']['name']} does not carry the selector's labels {wrong}",
                    f"label it (kubectl label node {node['metadata']['name']} "
                    + " ".join(f"{k}={v}" for k, v in wrong.items())
                    + "), or drop the labels",
                )
    else:
        chosen = [n for n in nodes if all((n["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]
        if not chosen:
            raise InvalidInput(
                "--label",
                f"no node matches the label selector {labels}",
                "label your GPU nodes, or choose nodes with --node",
            )
    return chosen


def _uniform_sku(spec: WorkspaceSpec, mode: PlacementMode, ready: list[Obj], catalog: Catalog) -> Sku:
    """The one GPU configuration of the Ready nodes (known size or GPU feature discovery labels)."""
    skus = {n["metadata"]["name"]: cond.node_sku(n, catalog) for n in ready}
    unknown = [name for name, sku in skus.items() if sku is None]
    if unknown:
        raise InvalidInput(
            "--node" if mode == "nodes" else "--label",
            f"cannot tell the GPUs of node(s) {', '.join(unknown)}: no known instance type and no NVIDIA "
            "feature-discovery labels (nvidia.com/gpu.count, nvidia.com/gpu.memory)",
            "install GPU feature discovery, or use nodes of a known Azure GPU size",
        )
    kinds = {(s.name, s.gpus, s.gpu_memory_gib) for s in skus.values() if s is not None}
    if len(kinds) > 1:
        raise InvalidInput(
            "--node" if mode == "nodes" else "--label",
            "the chosen nodes have different GPU configurations: " + ", ".join(sorted(k[0] for k in kinds)),
            "choose uniform nodes",
        )
    sku = next(s for s in skus.values() if s is not None)
    if spec.resource.instance_type and spec.resource.instance_type.lower() != sku.name.lower():
        raise InvalidInput(
            "--instance-type",
            f"the chosen nodes are {sku.name}, not {spec.resource.instance_type}",
            "drop --instance-type, or choose other nodes",
        )
    return sku


def _gpu_pods_query(node: str) -> ListQuery:
    """The live pods on a node (what _gpus_in_use lists)."""
    return resource_path("v1", "Pod"), None, f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed"


def _gpu_candidates(plan: Plan, ready_nodes: list[Obj]) -> list[str]:
    """The nodes whose GPU use _check_node_capacity reads first: enough of them for the plan, if all are free."""
    fitting = [n["metadata"]["name"] for n in ready_nodes[:16] if cond.node_gpus(n) >= plan.sku.gpus]
    return fitting[: plan.placement.nodes]


def _gpus_in_use(kube: KubeReader, node: str, namespace: str, workspace: str) -> list[tuple[str, int]]:
    """GPUs requested by other live pods on a node: (namespace/pod, gpus)."""
    path, _, fields = _gpu_pods_query(node)
    pods, _ = kube.list(path, field_selector=fields)
    used = []
    for pod in pods:
        meta = pod["metadata"]
        if meta.get("namespace") == namespace and (meta.get("labels") or {}).get(WORKSPACE_LABEL) == workspace:
            continue  # our own pods (a re-run) keep their GPUs
        spec = pod.get("spec", {})
        main = sum(
            cond.quantity_int(((c.get("resources") or {}).get("requests") or {}).get(cond.GPU_RESOURCE, 0))
            for c in spec.get("containers") or []
        )
        init = max(
            (
                cond.quantity_int(((c.get("resources") or {}).get("requests") or {}).get(cond.GPU_RESOURCE, 0))
                for c in spec.get("initContainers") or []
            ),
            default=0,
        )
        if max(main, init):
            used.append((f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}", max(main, init)))
    return used


def _check_node_capacity(kube: KubeReader, plan: Plan, ready_nodes: list[Obj], mode: PlacementMode) -> None:
    """Enough nodes with enough free nvidia.com/gpu (allocatable minus other pods' requests)."""
    field = "--node" if mode == "nodes" else "--label"
    need, gpus = plan.placement.nodes, plan.sku.gpus
    usable, lacking = [], []
    for node in ready_nodes[:16]:  # a per-node list call each; more candidates than that are not all needed
        name = node["metadata"]["name"]
        allocatable = cond.node_gpus(node)
        used = _gpus_in_use(kube, name, plan.namespace, plan.spec.name) if allocatable >= gpus else []
        free = allocatable - sum(n for _, n in used)
        if free >= gpus:
            usable.append(name)
        else:
            by = f", used by {', '.join(p for p, _ in used)}" if used else ""
            lacking.append(f"{name} ({free} of {allocatable} free{by})")
        if len(usable) >= need:
            return
    raise InvalidInput(
        field,
        f"{need} node(s) with {gpus} free nvidia.com/gpu needed, {len(usable)} found; " + "; ".join(lacking),
        "free the GPUs (`kaitoctl delete` another workspace), add nodes, or install the NVIDIA device plugin",
    )


# ---- preflight ---------------------------------------------------------------------------------------------------


def _configmap_key(kube: KubeReader, namespace: str, name: str, key: str) -> str:
    cm = kube.get(resource_path("v1", "ConfigMap", namespace, name))
    data = (cm or {}).get("data") or {}
    if key not in data:
        raise InvalidInput(
            "--config",
            f"ConfigMap {name} in {namespace} " + ("does not exist" if cm is None else f"has no {key}"),
            f"create it with a key {key}",
        )
    return str(data[key])


def _reference_paths(plan: Plan) -> list[str]:
    """What _check_references reads (sent ahead together)."""
    spec, ns = plan.spec, plan.namespace
    inf, tun = spec.inference, spec.tuning
    paths = []
    if inf is not None and inf.config:
        paths.append(resource_path("v1", "ConfigMap", ns, inf.config))
    if tun is not None and tun.config:
        paths.append(resource_path("v1", "ConfigMap", ns, tun.config))
    if tun is not None and tun.output.image_push_secret:
        paths.append(resource_path("v1", "Secret", ns, tun.output.image_push_secret))
    if spec.model_access_secret:
        paths.append(resource_path("v1", "Secret", ns, spec.model_access_secret))
    for adapter in inf.adapters if inf else ():
        pvc = (adapter.volume or {}).get("persistentVolumeClaim")
        if isinstance(pvc, dict):
            paths.append(resource_path("v1", "PersistentVolumeClaim", ns, str(pvc.get("claimName"))))
    return paths


def _check_references(kube: KubeReader, plan: Plan) -> str:
    """ConfigMaps and Secrets the workspace points at must exist (and be the right shape) before we write.
    Returns where the trainer writes the adapter (output_dir of the training config)."""
    spec, ns = plan.spec, plan.namespace
    inf, tun = spec.inference, spec.tuning
    output_dir = TUNING_OUTPUT_DIR
    if inf is not None and inf.config:
        check_inference_config(_configmap_key(kube, ns, inf.config, "inference_config.yaml"), plan.preset)
    if tun is not None and tun.config:
        output_dir = check_training_config(_configmap_key(kube, ns, tun.config, "training_config.yaml"), tun.method)
    if tun is not None and tun.output.image_push_secret:
        secret = kube.get(resource_path("v1", "Secret", ns, tun.output.image_push_secret))
        if secret is None:
            raise InvalidInput(
                "--push-secret",
                f"Secret {tun.output.image_push_secret} does not exist in {ns}",
                "kubectl create secret docker-registry NAME --docker-server=... (type kubernetes.io/dockerconfigjson)",
            )
        if secret.get("type") != "kubernetes.io/dockerconfigjson":
            raise InvalidInput(
                "--push-secret",
                f"Secret {tun.output.image_push_secret} is of type {secret.get('type')}, "
                "not kubernetes.io/dockerconfigjson",
                "create it with `kubectl create secret docker-registry`",
            )
    if spec.model_access_secret:
        secret = kube.get(resource_path("v1", "Secret", ns, spec.model_access_secret))
        if secret is None or "HF_TOKEN" not in (secret.get("data") or {}):
            raise InvalidInput(
                "--model-access-secret",
                f"Secret {spec.model_access_secret} in {ns} "
                + ("does not exist" if secret is None else "has no key HF_TOKEN"),
                "kubectl create secret generic NAME --from-literal=HF_TOKEN=...",
            )
    for adapter in inf.adapters if inf else ():
        pvc = (adapter.volume or {}).get("persistentVolumeClaim")
        if (
            isinstance(pvc, dict)
            and kube.get(resource_path("v1", "PersistentVolumeClaim", ns, str(pvc.get("claimName")))) is None
        ):
            raise InvalidInput(
                "--adapter", f"PersistentVolumeClaim {pvc.get('claimName')} does not exist in {ns}", "check the name"
            )
    return output_dir


# ---- the run -----------------------------------------------------------------------------------------------------


def _phase_timeouts(plan: Plan) -> dict[str, float]:
    timeouts: dict[str, float] = {
        cond.RESOURCE_READY: RESOURCE_TIMEOUT_POOL_S if plan.placement.mode == "pool" else RESOURCE_TIMEOUT_EXISTING_S,
        cond.JOB_STARTED: JOB_START_TIMEOUT_S,
        cond.WORKSPACE_SUCCEEDED: TUNING_TIMEOUT_S,
    }
    # Kaito's readiness budget, plus time for image pulls.
    timeouts[cond.INFERENCE_READY] = readiness_timeout_s(plan.preset.weights_gib) + 10 * 60
    return timeouts


def _write_status(kube: KubeApi, plan: Plan, existing: dict[str, Any], status: dict[str, Any]) -> None:
    """Record the outcome on the workspace record (own field manager, so re-applying the spec keeps it)."""
    if {k: existing.get(k) for k in status} == status:
        return
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": plan.names.record, "namespace": plan.namespace},
        "data": {"status.json": json.dumps({**existing, **status}, sort_keys=True)},
    }
    kube.apply(body, field_manager=STATUS_FIELD_MANAGER, force=True)


def _endpoint(kube: KubeApi, plan: Plan, applied: dict[str, Obj]) -> dict[str, Any]:
    # The Service as its apply returned it already has its clusterIP (assigned at creation): no request after Ready.
    svc = applied.get(f"Service/{plan.names.service}")
    if svc is None or not (svc.get("spec") or {}).get("clusterIP"):
        svc = kube.get(resource_path("v1", "Service", plan.namespace, plan.names.service)) or {}
    spec = svc.get("spec") or {}
    inf = plan.spec.inference
    return {
        "service": plan.names.service,
        "clusterIP": spec.get("clusterIP"),
        "port": 80,
        "url": f"http://{plan.names.service}.{plan.namespace}.svc.cluster.local:80",
        "model": plan.preset.served_name,
        "adapters": [a.name for a in inf.adapters] if inf else [],
        "chat": f'kaitoctl chat --workspace {plan.spec.name} -n {plan.namespace} "..."',
    }


# ---- the run: each step below is one named function ----------------------------------------------------------


@dataclass
class Run:
    """What every step after planning works with."""

    kube: KubeApi
    opts: RunOptions
    plan: Plan
    progress: Progress
    existing: WorkspaceRecord | None  # the record of an earlier run of this workspace
    changes: list[str]  # immutable fields that differ from that run (only with --recreate)
    started: float  # monotonic
    pool: PoolOperations | None = None
    applied: dict[str, Obj] = field(default_factory=dict)  # Kind/name -> the object as the server returned it
    # Existing-node placements: the Ready candidates read in preflight (the waiter judges ResourceReady from them
    # instead of watching nodes); None for a pool.
    nodes: list[Obj] | None = None
    known: dict[str, Obj | None] = field(default_factory=dict)  # path -> object read earlier in this run (None: absent)
    namespace_read: Future[Obj | None] | None = None  # the namespace, read while planning (server_dry_run's)

    @property
    def recreating(self) -> bool:
        return bool(self.changes) and self.opts.recreate

    @property
    def previous_status(self) -> dict[str, Any]:
        return self.existing.status if self.existing is not None else {}


def run_workspace(
    spec: WorkspaceSpec,
    opts: RunOptions,
    catalog: Catalog,
    reporter: Reporter,
    *,
    kube: KubeApi | None = None,
    aks: Callable[[AksTarget], AksApi] | None = None,
) -> dict[str, Any]:
    """validate → placement → plan → preflight (records, nodes, references, pool) → writes → wait → result.

    `kube` and `aks` stand in for the real adapters (unit tests)."""
    started = time.monotonic()
    result: dict[str, Any] = opts.result if opts.result is not None else {}
    kube = kube if kube is not None else cluster.connect(opts.kubeconfig, opts.context)
    spec = replace(spec, namespace=cluster.resolve_namespace(kube, spec.namespace))
    result.update({"workspace": spec.name, "namespace": spec.namespace, "action": "tune" if spec.tuning else "deploy"})

    # -- plan: where the pods go decides which GPU config the plan sizes against
    _raise_first(validate_spec(spec, catalog).blockers)
    check_placement_possible(spec, opts, kube)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="read") as pool:
        # The last record of this workspace and its namespace are read while the placement is resolved (one round
        # trip instead of three); a read's error is raised where its answer is used, as before.
        namespace = spec.namespace or DEFAULT_NAMESPACE
        record_path = resource_path("v1", "ConfigMap", namespace, WorkspaceNames(spec.name).record)
        record = pool.submit(kube.get, record_path)
        namespace_read = pool.submit(kube.get, resource_path("v1", "Namespace", name=namespace))
        where = resolve_placement(spec, opts, kube, catalog)
        market, no_market = None, None
        azure_api: AksApi | None = None
        if where.aks_target is not None:
            azure_api = _aks_api(where.aks_target, aks)
            if not spec.resource.instance_type:
                last = record.result()
                last_record = cluster.parse_record(last) if last else None
                spec, market, no_market = choose_market(spec, last_record, azure_api, catalog, opts)
        plan = plan_for(spec, opts, catalog, where, market, no_market)
        result["plan"] = plan.summary()
        _raise_first(plan.blockers)

        # -- preflight: everything that can fail, before the first write
        if record_path != resource_path("v1", "ConfigMap", plan.namespace, plan.names.record):
            # the plan named it otherwise (it does not today): read what the plan names
            record_path = resource_path("v1", "ConfigMap", plan.namespace, plan.names.record)
            record = pool.submit(kube.get, record_path)
        record_obj = record.result()
    existing = cluster.parse_record(record_obj) if record_obj else None
    changes = check_changes(existing, plan, opts)
    progress = Progress(reporter, phase_names(spec, where.mode, opts))
    result["phases"] = progress.to_list()
    run = Run(kube, opts, plan, progress, existing, changes, started)
    run.nodes = None if where.mode == "pool" else where.ready_nodes
    run.known[record_path] = record_obj
    if namespace == plan.namespace:
        run.namespace_read = namespace_read
    if already_succeeded(run):
        if run.previous_status.get("cleanup") == "pending":
            if cleans_up_after_success(spec, opts):
                finish_pending_cleanup(run, where.aks_target, catalog, aks)
            else:
                progress.info("its cleanup is still pending (--cleanup never keeps it so); `kaitoctl delete` ends it")
        result.update(skip_succeeded(run))
        result["durationSeconds"] = round(time.monotonic() - started, 3)
        return result
    objects = preflight(run, where, catalog)
    if where.aks_target is not None:
        run.pool = pool_preflight(run, where.aks_target, catalog, (lambda _t: azure_api) if azure_api else aks)
        record_adoption(run, objects)
        price = run.pool.price_per_hour
        result["pool"] = {
            "name": plan.placement.pool_name,
            "action": run.pool.action,
            "usdPerHour": None if price is None else round(price, 4),
        }
    ask_consent(run, objects)

    return write_and_wait(run, objects, result)


def _aks_api(target: AksTarget, aks: Callable[[AksTarget], AksApi] | None) -> AksApi:
    """One Azure client per run: the SKU ranking and the pool share its credential (one `az` token call)."""
    if aks is not None:
        return aks(target)
    from kaitoctl.adapters.aks import Aks

    return Aks(target)


# Pool actions that start (or raise) GPU spending: each asks first on a terminal.
SPENDING_ACTIONS = ("create", "scale", "recreate")


def consent_questions(run: Run, objects: list[Obj]) -> list[str]:
    """What a real run is about to do that costs money or deletes something, one question each."""
    from kaitoctl.core.manifests import object_ref

    plan, questions = run.plan, []
    if run.recreating:
        names = ", ".join(object_ref(o) for o in objects if o["kind"] != "PersistentVolumeClaim")
        questions.append(
            f"--recreate deletes workspace {plan.spec.name} in namespace {plan.namespace} ({names}) "
            f"and creates it again ({'; '.join(run.changes)})"
        )
    if run.pool is not None and run.pool.action in SPENDING_ACTIONS:
        price = run.pool.price_per_hour
        cost = f"${price:.2f}/h" if price is not None else "cost unknown (no Azure retail price)"
        verb = {"create": "create", "scale": "scale", "recreate": "delete and re-create"}[run.pool.action]
        questions.append(
            f"{verb} AKS agent pool {plan.placement.pool_name}: {plan.placement.nodes} × {plan.sku.name}"
            + (" Spot (evictable)" if plan.placement.spot else "")
            + f", {cost}"
        )
    return questions


def ask_consent(run: Run, objects: list[Obj]) -> None:
    """Ask before the first write (on a terminal, without -y); a no writes nothing."""
    confirm = run.opts.confirm
    if confirm is None:
        return
    questions = consent_questions(run, objects)
    if questions:
        run.namespace_read = None  # a person may take a while to answer: read the namespace again afterwards
    for question in questions:
        if not confirm(question):
            raise Declined(question)


def write_and_wait(run: Run, objects: list[Obj], result: dict[str, Any]) -> dict[str, Any]:
    """The writes (in order: namespace, old objects out, pool, objects), then the wait and the result. Fills
    `result` as it goes, so -o json reports how far a failed or interrupted run got."""
    progress = run.progress
    try:
        namespace_exists = server_dry_run(run, objects)
        make_room(run, namespace_exists)
        waiter = Waiter(run.kube, wait_target(run), progress)
        record_first(run, objects)
        provision(run, waiter)
        result["objects"] = apply_objects(run, objects)
        if run.opts.no_wait:
            skip_wait(run)
            result["phases"] = progress.to_list()
            return result
        outcome = wait(run, waiter)
        finish_provision(run)
        result.update(conclude(run, outcome))
        if cleans_up_after_success(run.plan.spec, run.opts):
            cleanup(run)
    except KeyboardInterrupt:
        error = interrupted(run)
        result["phases"] = progress.to_list()
        raise error from None
    except KaitoctlError:
        result["phases"] = progress.to_list()
        raise
    result["phases"] = progress.to_list()
    result["durationSeconds"] = round(time.monotonic() - run.started, 3)
    return result


def _raise_first(blockers: list[InvalidInput]) -> None:
    if blockers:
        raise blockers[0]


def plan_for(
    spec: WorkspaceSpec,
    opts: RunOptions,
    catalog: Catalog,
    where: PlacementChoice,
    market: Market | None = None,
    no_market: str | None = None,
) -> Plan:
    """The plan, sized against the chosen nodes' GPUs when the pods go to existing nodes."""
    return build_plan(
        spec,
        catalog,
        placement_mode=where.mode,
        bypass_resource_checks=opts.bypass_resource_checks,
        sku_override=where.sku,
        market=market,
        no_market=no_market,
        spot=opts.spot,
    )


def choose_market(
    spec: WorkspaceSpec, existing: WorkspaceRecord | None, aks: AksApi, catalog: Catalog, opts: RunOptions
) -> tuple[WorkspaceSpec, Market | None, str | None]:
    """Without --instance-type a new pool's SKU is ranked by price and free quota. A re-run keeps the SKU of the
    last run, or of the workspace's existing pool (a pool's VM size cannot change, and the ranking may have moved
    since); --recreate ranks again."""
    from kaitoctl.core.sizing import candidate_skus
    from kaitoctl.ops.market import live_market

    last = existing.spec.resource.instance_type if existing is not None else None
    if not last and not opts.recreate:
        # The workspace's pool exists (adopted, or left by a run without a record): its VM size is fixed too.
        from kaitoctl.core.naming import pool_name

        pool = aks.get_pool(pool_name(spec.namespace or DEFAULT_NAMESPACE, spec.name))
        props = ((pool or {}).get("properties") or pool or {}) if pool else {}
        if props.get("provisioningState") != "Deleting" and catalog.sku(str(props.get("vmSize") or "")):
            last = str(props["vmSize"])
    if last and not opts.recreate:
        return replace(spec, resource=replace(spec.resource, instance_type=last)), None, None
    market, why = live_market(aks, candidate_skus(catalog.skus.values()), spot=opts.spot)
    return spec, market, why


def check_changes(existing: WorkspaceRecord | None, plan: Plan, opts: RunOptions) -> list[str]:
    """Immutable fields that differ from the last run; refused unless --recreate."""
    changes = immutable_changes(existing.spec, plan.spec) if existing else []
    if changes and not opts.recreate:
        raise InvalidInput(
            changes[0].split(" (")[0],
            f"workspace {plan.spec.name} exists and these fields cannot change: {'; '.join(changes)}",
            "re-run with --recreate (deletes and recreates the workspace), or use another --name",
        )
    return changes


def phase_names(spec: WorkspaceSpec, mode: PlacementMode, opts: RunOptions) -> list[str]:
    names = [APPLY, cond.RESOURCE_READY]
    names += [cond.INFERENCE_READY] if spec.inference else [cond.JOB_STARTED]
    names += [cond.WORKSPACE_SUCCEEDED]
    if mode == "pool":
        names.insert(0, NODE_POOL)
    if spec.tuning is not None and spec.tuning.input.managed_pvc is not None:
        names.insert(names.index(APPLY) + 1, "Upload")  # ops/upload.py, between the claim and the Job
    if cleans_up_after_success(spec, opts):
        names.append(CLEANUP)
    return names


def cleans_up_after_success(spec: WorkspaceSpec, opts: RunOptions) -> bool:
    return spec.tuning is not None and opts.cleanup in ("on-success", "always")


def already_succeeded(run: Run) -> bool:
    """The same tuning run already succeeded (its Job may be cleaned up): nothing to do."""
    return (
        run.existing is not None
        and not run.changes
        and run.plan.spec.tuning is not None
        and run.existing.status.get("state") == "Succeeded"
    )


def skip_succeeded(run: Run) -> dict[str, Any]:
    for name in run.progress.order:
        run.progress.skip(name, "already succeeded")
    output = run.previous_status.get("output")
    run.progress.info(
        f"{run.plan.spec.name} already succeeded; adapter: {json.dumps(output)} (--recreate to train again)"
    )
    return {"state": "Succeeded", "output": output, "phases": run.progress.to_list()}


def preflight(run: Run, where: PlacementChoice, catalog: Catalog) -> list[Obj]:
    """Free GPUs on the chosen nodes, the referenced ConfigMaps/Secrets/claims, the objects' owners; returns the
    objects to apply. Their reads are independent: they go out together (ReadAhead), the checks run in order."""
    from kaitoctl.adapters.k8s import object_path
    from kaitoctl.ops.readahead import ReadAhead

    objects = render_plan(run.plan, catalog)  # their paths; re-rendered below if a training config moves the output
    gpu_nodes = _gpu_candidates(run.plan, where.ready_nodes) if where.mode != "pool" else []
    reads = ReadAhead(run.kube, known=run.known).send(
        gets=[*_reference_paths(run.plan), *(object_path(o) for o in objects)],
        lists=[_gpu_pods_query(n) for n in gpu_nodes],
    )
    try:
        if where.mode != "pool":
            _check_node_capacity(reads, run.plan, where.ready_nodes, where.mode)
        output_dir = _check_references(reads, run.plan)
        if output_dir != TUNING_OUTPUT_DIR:
            objects = render_plan(run.plan, catalog, tuning_output_dir=output_dir)
        check_ownership(reads, run.plan, objects, adopt=run.opts.adopt)
    finally:
        reads.close()
    return objects


def check_ownership(kube: KubeReader, plan: Plan, objects: list[Obj], *, adopt: bool) -> None:
    """Server-side apply would take over an existing object of the same name (and `delete` would then delete
    it): an object that exists without kaitoctl's labels for this workspace is refused unless --adopt."""
    from kaitoctl.adapters.k8s import object_path
    from kaitoctl.core.manifests import object_ref
    from kaitoctl.core.naming import MANAGED_BY, MANAGED_BY_LABEL, WORKSPACE_LABEL

    foreign = []
    for obj in objects:
        current = kube.get(object_path(obj))
        if current is None:
            continue
        labels = (current.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or labels.get(WORKSPACE_LABEL) != plan.spec.name:
            owner = labels.get(WORKSPACE_LABEL) if labels.get(MANAGED_BY_LABEL) == MANAGED_BY else None
            foreign.append(object_ref(obj) + (f" (kaitoctl workspace {owner})" if owner else ""))
    if foreign and not adopt:
        raise InvalidInput(
            "--name",
            f"{', '.join(foreign)} already exist(s) in namespace {plan.namespace} and kaitoctl did not create "
            f"it for workspace {plan.spec.name}",
            "choose another --name, or re-run with --adopt to let kaitoctl manage (and later delete) it",
        )


def pool_preflight(
    run: Run, target: AksTarget, catalog: Catalog, aks: Callable[[AksTarget], AksApi] | None
) -> PoolOperations:
    """The pool's owner, VM size and quota, checked before any write. Decides create/scale/update/unchanged/wait."""
    from kaitoctl.ops.pool import PoolOperations, recorded_adoption

    pool = PoolOperations(target, run.opts, run.kube, catalog, aks=aks(target) if aks is not None else None)
    pool.recorded_adoption = recorded_adoption(run.existing.raw if run.existing else None)
    pool.preflight(run.plan, run.progress)
    return pool


def record_adoption(run: Run, objects: list[Obj]) -> None:
    """An adopted pool's original count, tags and labels go on the workspace record (written before the first
    Azure write), so cleanup and `delete` can give the pool back as it was."""
    from kaitoctl.core.naming import ADOPTED_ANNOTATION

    if run.pool is None or run.pool.adopted is None:
        return
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == run.plan.names.record:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[ADOPTED_ANNOTATION] = json.dumps(run.pool.adopted, sort_keys=True)


def server_dry_run(run: Run, objects: list[Obj]) -> bool:
    """A server-side dry run of every object (admission, schema, field-ownership conflicts) when the namespace
    exists and nothing is being recreated. Returns whether the namespace exists.

    The dry runs write nothing and do not depend on each other, so they go out together: one round trip instead
    of one per object. Their verdicts are taken in order (the first refusal is raised, as one after the other
    would be)."""
    if run.namespace_read is not None:
        namespace_exists = run.namespace_read.result() is not None
    else:
        namespace_exists = run.kube.get(resource_path("v1", "Namespace", name=run.plan.namespace)) is not None
    if namespace_exists and not run.recreating and objects:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(objects)), thread_name_prefix="dry-run") as pool:
            verdicts = [pool.submit(run.kube.apply, obj, dry_run=True) for obj in objects]
        for verdict in verdicts:
            verdict.result()
    return namespace_exists


def make_room(run: Run, namespace_exists: bool) -> None:
    """The namespace exists; a recreated workspace is gone; a changed (or failed) tuning Job is replaced."""
    kube, plan = run.kube, run.plan
    if not namespace_exists:
        kube.ensure_namespace(plan.namespace)
    if run.recreating:
        run.progress.start(APPLY, "recreating: deleting the old workspace")
        from kaitoctl.ops.manage import delete_workspace_objects

        delete_workspace_objects(kube, plan.namespace, plan.spec.name, keep_adapter_volume=True)
        _wait_gone(kube, plan, run.opts)
    elif (
        run.existing is not None
        and plan.spec.tuning is not None
        and (run.existing.spec != plan.spec or run.existing.status.get("state") == "Failed")
    ):
        # Kaito deletes and recreates the tuning Job when its spec changes (a Job's pod template is immutable);
        # a re-run after a failed run trains again instead of reporting the old failure.
        kube.delete(resource_path("batch/v1", "Job", plan.namespace, plan.names.workload), propagation="Foreground")
        _wait_gone(kube, plan, run.opts)


def wait_target(run: Run) -> WaitTarget:
    plan = run.plan
    return WaitTarget(
        name=plan.spec.name,
        namespace=plan.namespace,
        mode=plan.spec.mode,
        placement=plan.placement_info(),
        main_container=plan.names.workload,
        phase_timeouts=_phase_timeouts(plan),
        deadline=(run.started + run.opts.timeout_s) if run.opts.timeout_s else None,
        nodes=run.nodes,
    )


def record_first(run: Run, objects: list[Obj]) -> None:
    """Before the first Azure write the workspace record exists and names the pool (its placement annotation), so
    every pool kaitoctl starts can be found and released by `kaitoctl delete NAME`, even if the run dies next."""
    if run.pool is None:
        return
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == run.plan.names.record:
            run.kube.apply(obj)


def provision(run: Run, waiter: Waiter) -> None:
    """Pipelining: the pool comes up while the workload is applied; its nodes are noticed by the Node watch."""
    if run.pool is not None:
        run.progress.start(NODE_POOL, run.pool.action)
        run.pool.start(run.plan, waiter.streams.queue)


def apply_objects(run: Run, objects: list[Obj]) -> list[str]:
    """Server-side apply of every object, in order. Returns their references (Kind/name)."""
    run.progress.start(APPLY)
    applied = []
    for obj in objects:
        if obj["kind"] == "Job" and run.opts.upload is not None:
            # --input-file: the input volume holds the files before the trainer can start reading it.
            from kaitoctl.ops.upload import upload_inputs

            upload_inputs(run, obj, run.opts.upload)
        ref = object_ref(obj)
        run.applied[ref] = run.kube.apply(obj)
        applied.append(ref)
    run.progress.done(APPLY, "Applied", f"{len(applied)} object(s)")
    return applied


def skip_wait(run: Run) -> None:
    """--no-wait: the phases after Apply are skipped; a pool operation goes on in Azure."""
    if run.pool is not None:
        run.progress.info(f"agent pool {run.plan.placement.pool_name}: {run.pool.action} continues in Azure")
    order = run.progress.order
    for name in order[order.index(APPLY) + 1 :]:
        if not run.progress.is_done(name):  # the upload of --input-file happened before the Job was applied
            run.progress.skip(name, "--no-wait")


def wait(run: Run, waiter: Waiter) -> WaitOutcome:
    """The waiter's verdict; a failed tuning run is recorded (and cleaned up with --cleanup always)."""
    workload = run.applied.get(f"StatefulSet/{run.plan.names.workload}")
    if workload is not None:
        waiter.applied(workload)
    try:
        return waiter.run()
    except OperationFailed:
        if run.plan.spec.tuning is not None:
            failed: dict[str, Any] = {"state": "Failed", "finishedAt": _now()}
            if run.opts.cleanup == "always":
                failed["cleanup"] = "pending"  # until cleanup() records "done": `delete` or a re-run finishes it
            _write_status(run.kube, run.plan, run.previous_status, failed)
            if run.opts.cleanup == "always":
                cleanup(run)
        raise


def finish_provision(run: Run) -> None:
    """The pool operation ends (its nodes may have been ready earlier); its error, if any, is raised here."""
    if run.pool is not None:
        run.pool.finish()
        run.progress.done(NODE_POOL, "Succeeded", run.pool.action)


def conclude(run: Run, outcome: WaitOutcome) -> dict[str, Any]:
    """The result: an inference endpoint, or the adapter's location (recorded on the workspace record)."""
    if run.plan.spec.inference is not None:
        return {"endpoint": _endpoint(run.kube, run.plan, run.applied), "state": "Ready"}
    output = run.plan.output_location()
    if outcome.training_step:
        output["trainingSteps"] = outcome.training_step[1]
    status: dict[str, Any] = {"state": "Succeeded", "finishedAt": _now(), "output": output}
    if cleans_up_after_success(run.plan.spec, run.opts):
        # Succeeded, but the Job and the GPU pool are still there until cleanup() records "done": a re-run (or
        # `delete`) after a failed or interrupted cleanup finishes it instead of reporting "already succeeded".
        status["cleanup"] = "pending"
    _write_status(run.kube, run.plan, run.previous_status, status)
    return {"output": output, "state": "Succeeded"}


def interrupted(run: Run) -> Interrupted:
    """Ctrl-C: the running phase fails as Interrupted; what was applied stays."""
    phase = run.progress.current or APPLY
    run.progress.fail(phase, "Interrupted", "Ctrl-C")
    return Interrupted(
        f"interrupted during {phase}; what was applied stays in the cluster",
        hint=f"re-run the same command to continue, or `kaitoctl delete {run.plan.spec.name} -n {run.plan.namespace}`",
    )


def _wait_gone(kube: KubeApi, plan: Plan, opts: RunOptions) -> None:
    """Block until the old workload and its pods are gone (a watch, not polling)."""
    from kaitoctl.ops.manage import wait_until_gone

    workload = ("apps/v1", "StatefulSet") if plan.spec.inference else ("batch/v1", "Job")
    left = wait_until_gone(
        kube, plan.namespace, ownership_selector(plan.spec.name), (workload, ("v1", "Pod")), opts.timeout_s or 300
    )
    if left:
        raise OperationFailed(f"still being deleted: {', '.join(left)}", reason="Deleting")


def cleanup(run: Run) -> None:
    """Tuning cleanup: the Job, its pods and the generated config go; the record and the adapter stay."""
    kube, plan = run.kube, run.plan
    run.progress.start(CLEANUP)
    kube.delete(resource_path("batch/v1", "Job", plan.namespace, plan.names.workload), propagation="Background")
    if plan.spec.tuning is not None and not plan.spec.tuning.config:
        kube.delete(resource_path("v1", "ConfigMap", plan.namespace, plan.names.tuning_config))
    left = None
    if run.pool is not None:
        run.pool.release(plan)
    else:
        left = _recorded_pool(run)
    previous = cluster.get_record(kube, plan.namespace, plan.names.record) or run.existing
    # "done" only once the pool is released: otherwise a re-run or `delete` must still find it pending.
    _write_status(kube, plan, previous.status if previous else {}, {"cleanup": "pending" if left else "done"})
    if left:
        run.progress.warn(
            f"agent pool {left} not released: no AKS cluster configured; the cleanup stays pending (a re-run with "
            f"--resource-group and --cluster, or `kaitoctl delete {plan.spec.name}` with them, finishes it)"
        )
    run.progress.done(CLEANUP, "Cleaned", "tuning Job removed; the adapter and the workspace record stay")


def _recorded_pool(run: Run) -> str | None:
    """The pool the workspace record names (a pool run), whatever this run's placement."""
    placement = run.existing.placement if run.existing is not None else None
    if placement is not None and placement.mode == "pool" and placement.pool:
        return placement.pool
    return run.plan.placement.pool_name if run.plan.placement.mode == "pool" else None


def finish_pending_cleanup(
    run: Run, target: AksTarget | None, catalog: Catalog, aks: Callable[[AksTarget], AksApi] | None
) -> None:
    """A succeeded tuning run whose cleanup failed or was interrupted: remove the Job and release the pool now."""
    if target is not None and run.plan.placement.mode == "pool":
        from kaitoctl.ops.pool import PoolOperations

        run.pool = PoolOperations(target, run.opts, run.kube, catalog, aks=aks(target) if aks is not None else None)
        from kaitoctl.ops.pool import recorded_adoption

        run.pool.recorded_adoption = recorded_adoption(run.existing.raw if run.existing else None)
    run.progress.info(f"{run.plan.spec.name} succeeded earlier, but its cleanup did not finish: finishing it")
    cleanup(run)
