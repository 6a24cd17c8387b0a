"""`kaitoctl doctor`: is this cluster (and its Azure side) ready for kaitoctl? Every check says what it found and,
when something is wrong, the fix. A `fail` is a blocker: some kaitoctl command cannot work until it is fixed; a
`warn` limits what kaitoctl can do or check.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from kaitoctl.core import conditions as cond
from kaitoctl.core.catalog import Catalog
from kaitoctl.core.errors import CloudError, KaitoctlError, OperationFailed
from kaitoctl.core.ranking import REGIONAL_USAGE, SPOT_USAGE, find_usage
from kaitoctl.core.rbac import CLUSTER_ROLE, WORKSPACES_ROLE, Access, required_access
from kaitoctl.core.sizing import candidate_skus
from kaitoctl.ops.interfaces import AksApi, KubeApi
from kaitoctl.ops.options import RunOptions

if TYPE_CHECKING:
    from kaitoctl.adapters.aks import AksTarget

Status = Literal["ok", "warn", "fail", "skip"]
REVIEW_WORKERS = 8  # SelfSubjectAccessReviews go out in parallel: ~70 of them
DEVICE_PLUGIN = "nvidia-device-plugin-daemonset"
# Cluster-role grants whose absence stops every run on existing nodes (placement reads the nodes); the rest of
# that role limits one feature (status -A, namespace creation, the device plugin install).
CLUSTER_BLOCKERS = {"nodes"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


class DoctorKube(KubeApi, Protocol):
    """What doctor needs beyond ops' usual cluster surface."""

    def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None) -> tuple[bool, str]: ...

    def server_version(self) -> str: ...


@dataclass
class Report:
    checks: list[Check]

    @property
    def blockers(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warn"]


def _error_check(name: str, error: KaitoctlError) -> Check:
    code = getattr(error, "code", None)
    return Check(name, "fail", error.message + (f" [{code}]" if code else ""), error.hint)


# ---- Kubernetes ---------------------------------------------------------------------------------------------------


def connection_checks(
    connect: Callable[[], DoctorKube],
) -> tuple[DoctorKube | None, list[Check]]:
    """The kubeconfig and context load, and the API server answers."""
    try:
        kube = connect()
    except KaitoctlError as error:
        return None, [_error_check("kubeconfig", error)]
    ctx = kube.context
    checks = [Check("kubeconfig", "ok", f"context {ctx.name or '(current)'}, namespace {ctx.namespace}")]
    try:
        version = kube.server_version()
    except KaitoctlError as error:
        return None, [*checks, _error_check("API server", error)]
    checks.append(Check("API server", "ok", f"{ctx.server} answers ({version or 'version unknown'})"))
    return kube, checks


def rbac_checks(kube: DoctorKube, namespace: str, access: list[Access] | None = None) -> list[Check]:
    """One SelfSubjectAccessReview per (verb, resource) of rbac/kaitoctl.yaml: the per-namespace role's in the
    workspace namespace, the cluster role's cluster-wide. One row per role."""
    wanted = access if access is not None else required_access()

    def ask(a: Access) -> tuple[Access, bool]:
        allowed, _ = kube.can_i(a.verb, a.group, a.resource, namespace if a.namespaced else None)
        return a, allowed

    with ThreadPoolExecutor(max_workers=REVIEW_WORKERS, thread_name_prefix="can-i") as pool:
        answers = list(pool.map(ask, wanted))
    checks = []
    for role, where, fix in (
        (
            WORKSPACES_ROLE,
            f"in namespace {namespace}",
            f"kubectl apply -f rbac/kaitoctl.yaml; kubectl create rolebinding kaitoctl -n {namespace} "
            f"--clusterrole={WORKSPACES_ROLE} --user=USER",
        ),
        (
            CLUSTER_ROLE,
            "cluster-wide",
            f"kubectl apply -f rbac/kaitoctl.yaml; kubectl create clusterrolebinding kaitoctl-USER "
            f"--clusterrole={CLUSTER_ROLE} --user=USER",
        ),
    ):
        mine = [(a, ok) for a, ok in answers if a.role == role]
        denied = [a for a, ok in mine if not ok]
        if not denied:
            checks.append(Check(f"RBAC {role}", "ok", f"all {len(mine)} permissions {where}"))
            continue
        blocking = role == WORKSPACES_ROLE or any(a.resource in CLUSTER_BLOCKERS for a in denied)
        shown = ", ".join(a.text for a in denied[:6]) + (f" (+{len(denied) - 6} more)" if len(denied) > 6 else "")
        checks.append(
            Check(
                f"RBAC {role}",
                "fail" if blocking else "warn",
                f"{len(denied)} of {len(mine)} denied {where}: {shown}",
                fix,
            )
        )
    return checks


def gpu_checks(kube: KubeApi, *, azure_target: bool) -> list[Check]:
    """The NVIDIA device plugin, the GPU nodes and how many of their GPUs are free."""
    return [
        _unless_forbidden("NVIDIA device plugin", lambda: device_plugin_check(kube)),
        _unless_forbidden("GPU nodes", lambda: gpu_nodes_check(kube, azure_target=azure_target)),
    ]


def _unless_forbidden(name: str, check: Callable[[], Check]) -> Check:
    """A check whose reads RBAC refuses is not run (the RBAC rows say what is missing), not a crash."""
    try:
        return check()
    except OperationFailed as error:
        if error.reason != "Forbidden":
            raise
        return Check(name, "skip", f"not checked: {error.message}", "see the RBAC rows above")


def device_plugin_check(kube: KubeApi) -> Check:
    """Ours (or Kaito's: the same name) or NVIDIA's GPU operator."""
    from kaitoctl.adapters.k8s import resource_path

    plugins, _ = kube.list(resource_path("apps/v1", "DaemonSet"), field_selector=f"metadata.name={DEVICE_PLUGIN}")
    operator, _ = kube.list(
        resource_path("apps/v1", "DaemonSet"), label_selector="app.kubernetes.io/managed-by=gpu-operator"
    )
    found = plugins or operator
    if found:
        ds = found[0]
        meta, status = ds["metadata"], ds.get("status") or {}
        return Check(
            "NVIDIA device plugin",
            "ok",
            f"DaemonSet {meta.get('namespace')}/{meta['name']}: {status.get('numberReady', 0)} of "
            f"{status.get('desiredNumberScheduled', 0)} ready",
        )
    return Check(
        "NVIDIA device plugin",
        "warn",
        "not installed: GPU nodes advertise no nvidia.com/gpu without it",
        "kaitoctl installs it with the first pool it creates (unless --no-device-plugin); on existing "
        "nodes install it (or NVIDIA's GPU operator) yourself",
    )


def gpu_nodes_check(kube: KubeApi, *, azure_target: bool) -> Check:
    """Nodes with allocatable nvidia.com/gpu, and how many GPUs no running pod requests."""
    from kaitoctl.adapters.k8s import resource_path

    nodes, _ = kube.list(resource_path("v1", "Node"))
    gpu_nodes = [n for n in nodes if cond.node_gpus(n) > 0]
    if not gpu_nodes:
        return Check(
            "GPU nodes",
            "ok" if azure_target else "fail",
            "none yet" + (": kaitoctl creates an AKS pool for each workspace" if azure_target else ""),
            None
            if azure_target
            else "point kaitoctl at the AKS cluster (an AKS kube context, or --resource-group and --cluster) "
            "so it can create GPU pools, or add GPU nodes with the device plugin",
        )
    pods, _ = kube.list(resource_path("v1", "Pod"), field_selector="status.phase!=Succeeded,status.phase!=Failed")
    used: dict[str, int] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if not node:
            continue
        requests = [
            cond.quantity_int(((c.get("resources") or {}).get("requests") or {}).get(cond.GPU_RESOURCE, 0))
            for c in spec.get("containers") or []
        ]
        used[node] = used.get(node, 0) + sum(requests)
    total = sum(cond.node_gpus(n) for n in gpu_nodes)
    free = sum(max(0, cond.node_gpus(n) - used.get(n["metadata"]["name"], 0)) for n in gpu_nodes)
    ready = sum(1 for n in gpu_nodes if cond.node_ready(n))
    sizes = sorted(
        {str((n["metadata"].get("labels") or {}).get("node.kubernetes.io/instance-type", "?")) for n in gpu_nodes}
    )
    return Check(
        "GPU nodes",
        "ok" if free or azure_target else "warn",
        f"{len(gpu_nodes)} ({ready} Ready; {', '.join(sizes)}), {free} of {total} GPUs free",
        None if free or azure_target else "free GPUs (`kaitoctl delete` a workspace) or add GPU nodes",
    )


# ---- Azure --------------------------------------------------------------------------------------------------------


def azure_checks(aks: AksApi, target: AksTarget, catalog: Catalog, get_token: Callable[[], object]) -> list[Check]:
    """Credential, subscription/resource group/cluster, agent pools, the usages permission and the free vCPU quota
    of each GPU family kaitoctl may choose, in the cluster's region."""
    where = f"subscription {target.subscription}, resource group {target.resource_group}, cluster {target.cluster}"
    try:
        get_token()
    except KaitoctlError as error:
        return [_error_check("Azure credential", error)]
    checks = [Check("Azure credential", "ok", "a token for Azure Resource Manager")]
    try:
        cluster = aks.cluster()
    except CloudError as error:
        part = {
            "SubscriptionNotFound": ("Azure subscription", "check --subscription / AZURE_SUBSCRIPTION_ID"),
            "ResourceGroupNotFound": ("Azure resource group", "check --resource-group / AZURE_RESOURCE_GROUP"),
        }.get(error.code or "", ("AKS cluster", error.hint))
        return [*checks, Check(part[0], "fail", f"{error.message} [{error.code}]", part[1])]
    location = str(cluster.get("location") or "")
    props = cluster.get("properties") or {}
    version = props.get("currentKubernetesVersion") or props.get("kubernetesVersion")
    checks.append(Check("AKS cluster", "ok", f"{where}; {location}, Kubernetes {version}"))
    try:
        aks.get_pool("kaitoctl-doctor-probe")  # a pool that does not exist: 404 proves agentPools/read
        checks.append(Check("agent pools", "ok", "agentPools/read allowed"))
    except CloudError as error:
        checks.append(_error_check("agent pools", error))
    try:
        usages = aks.usages(location)
    except CloudError as error:
        return [*checks, _error_check("Compute usages", error)]
    if usages is None:
        from kaitoctl.adapters.aks import USAGES_ACTION

        checks.append(
            Check(
                "Compute usages",
                "warn",
                "forbidden: kaitoctl cannot check vCPU quota before creating a pool",
                f"grant {USAGES_ACTION} on the subscription (e.g. the Reader role at subscription scope)",
            )
        )
        return checks
    checks.append(Check("Compute usages", "ok", f"readable in {location}"))
    return checks + quota_checks(usages, catalog, location)


def quota_checks(usages: dict[str, tuple[int, int]], catalog: Catalog, location: str) -> list[Check]:
    """Free vCPUs per GPU family (enough for one node of its smallest size?), the regional total and Spot."""
    families: dict[str, list[Any]] = {}
    for sku in candidate_skus(catalog.skus.values()):
        if sku.quota_family:
            families.setdefault(sku.quota_family, []).append(sku)
    checks = []
    usable = 0
    regional = find_usage(usages, REGIONAL_USAGE)
    regional_free = regional[1][1] - regional[1][0] if regional else None
    for family, skus in families.items():
        smallest = min(skus, key=lambda s: s.vcpus)
        found = find_usage(usages, family)
        name = f"quota {family}"
        if found is None:
            checks.append(Check(name, "warn", f"not listed in {location}", None))
            continue
        current, limit = found[1]
        free = limit - current
        enough = free >= smallest.vcpus and (regional_free is None or regional_free >= smallest.vcpus)
        usable += enough
        checks.append(
            Check(
                name,
                "ok" if enough else "warn",
                f"{free} of {limit} vCPUs free; one {smallest.name} needs {smallest.vcpus}",
                None
                if enough
                else f"request more {found[0]} vCPU quota in {location} (portal: Quotas → Compute, "
                "or `az quota update`)",
            )
        )
    if regional is not None:
        checks.append(Check("quota total regional vCPUs", "ok", f"{regional_free} of {regional[1][1]} free"))
    spot = find_usage(usages, SPOT_USAGE)
    if spot is not None:
        checks.append(Check("quota Spot vCPUs", "ok", f"{spot[1][1] - spot[1][0]} of {spot[1][1]} free (--spot)"))
    if families and not usable:
        checks.append(
            Check(
                "GPU quota",
                "fail",
                f"no GPU family has free vCPUs for one node in {location}",
                f"request GPU vCPU quota in {location} (portal: Quotas → Compute, or `az quota update`)",
            )
        )
    return checks


# ---- all of it ----------------------------------------------------------------------------------------------------


def diagnose(
    opts: RunOptions,
    catalog: Catalog,
    *,
    namespace: str | None = None,
    connect: Callable[[], DoctorKube] | None = None,
    aks: Callable[[AksTarget], AksApi] | None = None,
    token: Callable[[AksTarget], object] | None = None,
) -> Report:
    """Every check, in order; a check that cannot run because an earlier one failed is left out (its cause is
    already a row). `connect`, `aks` and `token` stand in for the adapters (tests)."""
    from kaitoctl.ops.pool import resolve_target

    def default_connect() -> DoctorKube:
        from kaitoctl.adapters.k8s import Kube

        return Kube.connect(Path(opts.kubeconfig) if opts.kubeconfig else None, opts.context)

    kube, checks = connection_checks(connect or default_connect)
    if kube is not None:
        checks += rbac_checks(kube, namespace or kube.context.namespace or "default")
    try:
        target = resolve_target(opts, kube, aks=aks)
    except KaitoctlError as error:
        checks.append(_error_check("Azure target", error))
        target = None
    else:
        if target is None:
            checks.append(
                Check(
                    "Azure target",
                    "skip",
                    "not an AKS kube context and no --resource-group/--cluster: pools cannot be created; "
                    "kaitoctl runs on existing GPU nodes (--node, --label)",
                )
            )
    if target is not None:
        api = aks(target) if aks is not None else _aks(target)
        checks += azure_checks(api, target, catalog, lambda: (token or _token)(target))
    if kube is not None:
        checks += gpu_checks(kube, azure_target=target is not None)
    return Report(checks)


def _aks(target: AksTarget) -> AksApi:
    from kaitoctl.adapters.aks import Aks

    return Aks(target)


def _token(target: AksTarget) -> object:
    """An ARM token from azure-identity's chain (what every Azure call of kaitoctl uses)."""
    from kaitoctl.adapters.aks import Aks

    Aks(target).check_token()
    return None
