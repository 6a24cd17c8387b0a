"""tune / deploy / apply against a real cluster: plan → preflight → (pool) → apply → wait → result.

Everything that can be checked is checked before the first write: the plan's blockers, immutable-field changes
against what kaitoctl applied last time, existing nodes, referenced ConfigMaps and Secrets, Azure quota, and a
server-side dry-run of every object. Writes are server-side applies with field manager `kaitoctl`, so a re-run of
the same command changes nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kaitoctl.adapters.k8s import STATUS_FIELD_MANAGER, Kube, resource_path
from kaitoctl.core import conditions as cond
from kaitoctl.core.catalog import Catalog, Sku
from kaitoctl.core.errors import InvalidInput, KaitoctlError, OperationFailed
from kaitoctl.core.manifests import object_ref
from kaitoctl.core.naming import WORKSPACE_LABEL, ownership_selector
from kaitoctl.core.plan import TUNING_OUTPUT_DIR, PlacementMode, Plan, build_plan
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
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress, Reporter
from kaitoctl.ops.wait import Waiter, WaitTarget

NODE_POOL, APPLY, CLEANUP = "NodePool", "Apply", "Cleanup"

# Per-phase budgets when no --timeout is given.
RESOURCE_TIMEOUT_POOL_S = 30 * 60
RESOURCE_TIMEOUT_EXISTING_S = 5 * 60
JOB_START_TIMEOUT_S = 30 * 60
TUNING_TIMEOUT_S = 48 * 3600


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- placement ---------------------------------------------------------------------------------------------------


def _choose_placement(spec: WorkspaceSpec, opts: RunOptions, kube: Kube) -> tuple[PlacementMode, Any]:
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
    raise InvalidInput(
        "--node/--label",
        "no AKS cluster to create a node pool in, and no existing nodes chosen",
        "use an AKS kube context or pass --resource-group and --cluster; or run on existing GPU nodes with "
        "--node NAME, or --label KEY=VALUE --no-pool",
    )


def _existing_nodes_sku(
    spec: WorkspaceSpec, mode: PlacementMode, nodes: list[dict[str, Any]], catalog: Catalog
) -> tuple[list[dict[str, Any]], Sku]:
    """The nodes a nodes/selector workspace will use, checked before anything is written, and their GPU config."""
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
    not_ready = [n["metadata"]["name"] for n in chosen if not cond.node_ready(n)]
    if not_ready and mode == "nodes":
        raise InvalidInput("--node", f"node(s) not Ready: {', '.join(not_ready)}", "pick Ready nodes")
    ready = [n for n in chosen if cond.node_ready(n)]
    if not ready:
        raise InvalidInput("--label", "none of the matching nodes is Ready", "check `kubectl get nodes`")
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
    return ready, sku


def _gpus_in_use(kube: Kube, node: str, namespace: str, workspace: str) -> list[tuple[str, int]]:
    """GPUs requested by other live pods on a node: (namespace/pod, gpus)."""
    pods, _ = kube.list(
        resource_path("v1", "Pod"),
        field_selector=f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed",
    )
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


def _check_node_capacity(kube: Kube, plan: Plan, ready_nodes: list[dict[str, Any]], mode: PlacementMode) -> None:
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


def _configmap_key(kube: Kube, namespace: str, name: str, key: str) -> str:
    cm = kube.get(resource_path("v1", "ConfigMap", namespace, name))
    data = (cm or {}).get("data") or {}
    if key not in data:
        raise InvalidInput(
            "--config",
            f"ConfigMap {name} in {namespace} " + ("does not exist" if cm is None else f"has no {key}"),
            f"create it with a key {key}",
        )
    return str(data[key])


def _check_references(kube: Kube, plan: Plan) -> str:
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


def _write_status(kube: Kube, plan: Plan, existing: dict[str, Any], status: dict[str, Any]) -> None:
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


def _endpoint(kube: Kube, plan: Plan) -> dict[str, Any]:
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


def run_workspace(spec: WorkspaceSpec, opts: RunOptions, catalog: Catalog, reporter: Reporter) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = opts.result if opts.result is not None else {}
    kube = cluster.connect(opts.kubeconfig, opts.context)
    namespace = cluster.resolve_namespace(kube, spec.namespace)
    spec = replace(spec, namespace=namespace)
    result.update({"workspace": spec.name, "namespace": namespace, "action": "tune" if spec.tuning else "deploy"})

    # -- plan: where the pods go decides which GPU config the plan sizes against
    findings = validate_spec(spec, catalog)
    if findings.blockers:
        raise findings.blockers[0]
    mode, aks_target = _choose_placement(spec, opts, kube)
    ready_nodes: list[dict[str, Any]] = []
    sku_override = None
    if mode in ("nodes", "selector"):
        nodes, _ = kube.list(resource_path("v1", "Node"))
        ready_nodes, sku_override = _existing_nodes_sku(spec, mode, nodes, catalog)
    plan = build_plan(
        spec,
        catalog,
        placement_mode=mode,
        bypass_resource_checks=opts.bypass_resource_checks,
        sku_override=sku_override,
    )
    result["plan"] = plan.summary()
    if plan.blockers:
        raise plan.blockers[0]

    # -- preflight: everything that can fail, before the first write
    existing = cluster.get_record(kube, namespace, plan.names.record)
    changes = immutable_changes(existing.spec, plan.spec) if existing else []
    if changes and not opts.recreate:
        raise InvalidInput(
            changes[0].split(" (")[0],
            f"workspace {spec.name} exists and these fields cannot change: {'; '.join(changes)}",
            "re-run with --recreate (deletes and recreates the workspace), or use another --name",
        )
    progress_names = [APPLY, cond.RESOURCE_READY]
    progress_names += [cond.INFERENCE_READY] if spec.inference else [cond.JOB_STARTED]
    progress_names += [cond.WORKSPACE_SUCCEEDED]
    if mode == "pool":
        progress_names.insert(0, NODE_POOL)
    if spec.tuning is not None and opts.cleanup in ("on-success", "always"):
        progress_names.append(CLEANUP)
    progress = Progress(reporter, progress_names)
    result["phases"] = progress.to_list()

    if existing is not None and not changes and spec.tuning is not None and existing.status.get("state") == "Succeeded":
        # The same tuning run already succeeded (its Job may be cleaned up): nothing to do.
        for name in progress_names:
            progress.skip(name, "already succeeded")
        output = existing.status.get("output")
        result.update({"state": "Succeeded", "output": output, "phases": progress.to_list()})
        progress.info(f"{spec.name} already succeeded; adapter: {json.dumps(output)} (--recreate to train again)")
        result["durationSeconds"] = round(time.monotonic() - started, 3)
        return result
    if mode != "pool":
        _check_node_capacity(kube, plan, ready_nodes, mode)
    output_dir = _check_references(kube, plan)
    objects = render_plan(plan, catalog, tuning_output_dir=output_dir)

    pool_ops = None
    if mode == "pool":
        from kaitoctl.ops.pool import PoolOperations

        pool_ops = PoolOperations(aks_target, opts, kube, catalog)
        action = pool_ops.preflight(plan, progress)
        result["pool"] = {"name": plan.placement.pool_name, "action": action}

    try:
        namespace_exists = kube.get(resource_path("v1", "Namespace", name=namespace)) is not None
        if namespace_exists and not (changes and opts.recreate):
            for obj in objects:  # server-side dry run: admission, schema and field-ownership conflicts
                kube.apply(obj, dry_run=True)

        # -- writes
        if not namespace_exists:
            kube.ensure_namespace(namespace)
        if changes and opts.recreate:
            progress.start(APPLY, "recreating: deleting the old workspace")
            from kaitoctl.ops.manage import delete_workspace_objects

            delete_workspace_objects(kube, namespace, spec.name, keep_adapter_volume=True)
            _wait_gone(kube, plan, opts)
        elif (
            existing is not None
            and spec.tuning is not None
            and (existing.spec != plan.spec or existing.status.get("state") == "Failed")
        ):
            # Kaito deletes and recreates the tuning Job when its spec changes (a Job's pod template is immutable);
            # a re-run after a failed run trains again instead of reporting the old failure.
            kube.delete(resource_path("batch/v1", "Job", namespace, plan.names.workload), propagation="Foreground")
            _wait_gone(kube, plan, opts)
        target = WaitTarget(
            name=spec.name,
            namespace=namespace,
            mode=spec.mode,
            placement=plan.placement_info(),
            main_container=plan.names.workload,
            phase_timeouts=_phase_timeouts(plan),
            deadline=(started + opts.timeout_s) if opts.timeout_s else None,
        )
        waiter = Waiter(kube, target, progress)
        if pool_ops is not None:
            # Pipelining: the pool comes up while the workload is applied; its nodes are noticed by the Node watch.
            progress.start(NODE_POOL, pool_ops.action)
            pool_ops.start(plan, waiter.streams.queue)
        progress.start(APPLY)
        applied = []
        for obj in objects:
            kube.apply(obj)
            applied.append(object_ref(obj))
        progress.done(APPLY, "Applied", f"{len(applied)} object(s)")
        result["objects"] = applied

        if opts.no_wait:
            if pool_ops is not None:
                progress.info(f"agent pool {plan.placement.pool_name}: {pool_ops.action} continues in Azure")
            for name in progress_names[progress_names.index(APPLY) + 1 :]:
                progress.skip(name, "--no-wait")
            result["phases"] = progress.to_list()
            return result

        # -- wait
        try:
            outcome = waiter.run()
        except OperationFailed:
            if spec.tuning is not None:
                _write_status(
                    kube, plan, existing.status if existing else {}, {"state": "Failed", "finishedAt": _now()}
                )
                if opts.cleanup == "always":
                    _cleanup(kube, plan, progress, pool_ops)
            raise
        if pool_ops is not None:
            pool_ops.finish()
            progress.done(NODE_POOL, "Succeeded", pool_ops.action)

        if spec.inference is not None:
            result["endpoint"] = _endpoint(kube, plan)
            result["state"] = "Ready"
        else:
            output = plan.output_location()
            if outcome.training_step:
                output["trainingSteps"] = outcome.training_step[1]
            _write_status(
                kube,
                plan,
                existing.status if existing else {},
                {"state": "Succeeded", "finishedAt": _now(), "output": output},
            )
            result["output"] = output
            result["state"] = "Succeeded"
            if opts.cleanup in ("on-success", "always"):
                _cleanup(kube, plan, progress, pool_ops)
    except KeyboardInterrupt:
        phase = progress.current or APPLY
        progress.fail(phase, "Interrupted", "Ctrl-C")
        result["phases"] = progress.to_list()
        from kaitoctl.core.errors import Interrupted

        raise Interrupted(
            f"interrupted during {phase}; what was applied stays in the cluster",
            hint=f"re-run the same command to continue, or `kaitoctl delete {spec.name} -n {namespace}`",
        ) from None
    except KaitoctlError:
        result["phases"] = progress.to_list()
        raise
    result["phases"] = progress.to_list()
    result["durationSeconds"] = round(time.monotonic() - started, 3)
    return result


def _wait_gone(kube: Kube, plan: Plan, opts: RunOptions) -> None:
    """Block until the old workload and its pods are gone (a watch, not polling)."""
    from kaitoctl.ops.manage import wait_until_gone

    workload = ("apps/v1", "StatefulSet") if plan.spec.inference else ("batch/v1", "Job")
    left = wait_until_gone(
        kube, plan.namespace, ownership_selector(plan.spec.name), (workload, ("v1", "Pod")), opts.timeout_s or 300
    )
    if left:
        raise OperationFailed(f"still being deleted: {', '.join(left)}", reason="Deleting")


def _cleanup(kube: Kube, plan: Plan, progress: Progress, pool_ops: Any) -> None:
    """Tuning cleanup: the Job, its pods and the generated config go; the record and the adapter stay."""
    progress.start(CLEANUP)
    kube.delete(resource_path("batch/v1", "Job", plan.namespace, plan.names.workload), propagation="Background")
    if plan.spec.tuning is not None and not plan.spec.tuning.config:
        kube.delete(resource_path("v1", "ConfigMap", plan.namespace, plan.names.tuning_config))
    if pool_ops is not None:
        pool_ops.release(plan)
    progress.done(CLEANUP, "Cleaned", "tuning Job removed; the adapter and the workspace record stay")
