"""AKS GPU node pools for workspaces: find the target like az does, check quota before writing, create or scale
the pool in the background while the workload is applied (nodes are noticed by the Node watch, not by ARM
polling), install the NVIDIA device plugin when needed, and release the pool afterwards.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kaitoctl.adapters.aks import CLOUDS, USAGES_ACTION, Aks, AksTarget, price_lookup
from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core.catalog import Catalog
from kaitoctl.core.errors import CloudError, InvalidInput, KaitoctlError
from kaitoctl.core.naming import (
    ADOPTED_ANNOTATION,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    MANAGED_BY,
    POOL_TAG_ADOPTED,
    POOL_TAG_MANAGED_BY,
    POOL_TAG_WORKSPACE,
)
from kaitoctl.core.plan import Plan
from kaitoctl.core.ranking import REGIONAL_USAGE, SPOT_USAGE, find_usage, quota_key
from kaitoctl.core.render import render_device_plugin
from kaitoctl.ops.interfaces import AksApi, KubeApi
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress
from kaitoctl.ops.watch import Update

NODE_POOL = "NodePool"
DEVICE_PLUGIN_NAME = "nvidia-device-plugin-daemonset"
# Azure's minimum OS disk for GPU images is well below these; Kaito sizes the disk from the preset.
MIN_OS_DISK_GB = 128
OS_SKU = "Ubuntu"
# Read back from an existing pool and sent again unchanged: AKS refuses to change them in place
# (PropertyChangeNotAllowed, e.g. hashicorp/terraform-provider-azurerm#26730 for osSKU). A Spot pool's priority,
# eviction policy and max price are fixed at creation too (learn.microsoft.com/azure/aks/spot-node-pool): a scale
# PUT without them would ask for a Regular pool.
KEPT_ON_UPDATE = (
    "vnetSubnetID",
    "podSubnetID",
    "osDiskType",
    "scaleSetPriority",
    "scaleSetEvictionPolicy",
    "spotMaxPrice",
)
# A Spot pool (learn.microsoft.com/azure/aks/spot-node-pool; ManagedClusterAgentPoolProfileProperties in
# azure-rest-api-specs specification/containerservice/resource-manager/Microsoft.ContainerService/aks): evicted nodes
# are deleted (Deallocate would keep counting against the quota), and -1 pays up to the on-demand price, so nodes
# are never evicted for price, only for capacity. Neither can change after the pool is created.
SPOT_PROPERTIES = {"scaleSetPriority": "Spot", "scaleSetEvictionPolicy": "Delete", "spotMaxPrice": -1}


def az_default_subscription() -> str | None:
    """The az CLI's default subscription (azureProfile.json; it starts with a UTF-8 BOM)."""
    config_dir = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    try:
        profile = json.loads((config_dir / "azureProfile.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    for sub in profile.get("subscriptions") or []:
        if sub.get("isDefault"):
            return str(sub.get("id"))
    return None


def is_aks_server(server: str) -> bool:
    return (urlparse(server).hostname or "").endswith(".azmk8s.io")


def resolve_target(
    opts: RunOptions, kube: KubeApi | None, *, aks: Callable[[AksTarget], AksApi] | None = None
) -> AksTarget | None:
    """Where node pools go: flags, then environment, then the kube context (an AKS API server), like az/kubectl.

    None when nothing points at Azure (a non-AKS cluster and no --cluster/--resource-group). `aks` stands in for
    the AKS adapter (tests).
    """
    cloud = (opts.cloud or "AzureCloud").lower()
    if cloud not in CLOUDS:
        raise InvalidInput(
            "--cloud", f"unknown cloud {opts.cloud!r}", "use AzureCloud, AzureChinaCloud or AzureUSGovernment"
        )
    endpoint = os.environ.get("KAITOCTL_ARM_ENDPOINT") or None
    ca_bundle = os.environ.get("KAITOCTL_ARM_CA_BUNDLE") or None
    server = kube.context.server if kube else ""
    aks_context = is_aks_server(server)
    if not (opts.resource_group or opts.aks_cluster or aks_context):
        return None
    subscription = opts.subscription or az_default_subscription()
    if not subscription:
        raise InvalidInput(
            "--subscription",
            "no Azure subscription",
            "pass --subscription, set AZURE_SUBSCRIPTION_ID, or `az account set --subscription ...`",
        )
    cluster = opts.aks_cluster
    resource_group = opts.resource_group
    if cluster and resource_group:
        return AksTarget(subscription, resource_group, cluster, cloud, endpoint, ca_bundle)
    if aks_context:
        # The kube context points at an AKS API server: find the cluster by its FQDN (one ARM list call).
        partial = AksTarget(subscription, resource_group or "", cluster or "", cloud, endpoint, ca_bundle)
        host = urlparse(server).hostname or ""
        for found in (aks(partial) if aks is not None else Aks(partial)).list_clusters():
            props = found.get("properties") or found
            if host in {props.get("fqdn"), props.get("privateFQDN"), props.get("azurePortalFQDN")}:
                group = re.search(r"/resourcegroups/([^/]+)/", str(found.get("id", "")), re.IGNORECASE)
                return AksTarget(
                    subscription,
                    resource_group or (group.group(1) if group else ""),
                    cluster or str(found.get("name")),
                    cloud,
                    endpoint,
                    ca_bundle,
                )
    raise InvalidInput(
        "--resource-group" if cluster else "--cluster",
        "the AKS cluster is only partly named",
        "pass both --resource-group and --cluster (or AZURE_RESOURCE_GROUP and KAITOCTL_AKS_CLUSTER)",
    )


def pool_body(plan: Plan, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The agent pool kaitoctl wants for a workspace (ARM wire shape). `extra`: properties taken from Azure (the
    cluster's subnets, an existing pool's larger OS disk) that win over kaitoctl's defaults."""
    disk = plan.preset.tuning.disk_gib if plan.spec.tuning and plan.preset.tuning else plan.preset.disk_gib
    props: dict[str, Any] = {
        "count": plan.placement.nodes,
        "vmSize": plan.sku.name,
        "mode": "User",
        "type": "VirtualMachineScaleSets",
        "osType": "Linux",
        "osSKU": OS_SKU,
        "osDiskSizeGB": max(int(disk), MIN_OS_DISK_GB),
        "nodeLabels": dict(sorted(plan.placement.pool_labels.items())),
        "nodeTaints": [f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:NoSchedule"],
        "tags": {POOL_TAG_MANAGED_BY: MANAGED_BY, POOL_TAG_WORKSPACE: f"{plan.namespace}/{plan.spec.name}"},
    }
    if plan.placement.spot:
        props.update(SPOT_PROPERTIES)
    props.update(extra or {})
    return {"properties": props}


def subnets_of(cluster: dict[str, Any]) -> dict[str, str]:
    """vnetSubnetID/podSubnetID of the cluster's existing pools, for a new pool's PUT.

    On Azure CNI with a pod subnet AKS rejects a pool without one ("All or none of the agentpools should set
    podsubnet"), and a pool without vnetSubnetID would land in AKS's own VNet rather than the cluster's. User pools
    are preferred over the System pool (a GPU pool is a user pool); the first pool that has a subnet wins.
    """
    profiles = list(((cluster.get("properties") or cluster).get("agentPoolProfiles")) or [])
    profiles.sort(key=lambda p: 0 if str(p.get("mode", "")).lower() == "user" else 1)
    for profile in profiles:
        found = {k: str(profile[k]) for k in ("vnetSubnetID", "podSubnetID") if profile.get(k)}
        if found:
            return found
    return {}


def _tags(pool: dict[str, Any]) -> dict[str, str]:
    tags = (pool.get("properties") or {}).get("tags") or pool.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {}


def owner_of(pool: dict[str, Any]) -> str | None:
    """The workspace ("namespace/name") a pool serves: one kaitoctl created (managed-by=kaitoctl) or adopted
    (kaitoctl-adopted-count); None for a pool kaitoctl has nothing to do with."""
    tags = _tags(pool)
    if tags.get(POOL_TAG_MANAGED_BY) != MANAGED_BY and POOL_TAG_ADOPTED not in tags:
        return None
    return str(tags.get(POOL_TAG_WORKSPACE) or "")


def adoption_of(pool: dict[str, Any], recorded: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """An adopted pool as it was before kaitoctl adopted it: {"pool", "count", "tags", "nodeLabels"}; None when
    kaitoctl created the pool. The workspace record keeps the whole of it (`recorded`); without the record, the
    pool's own tag keeps the count, and the tags and labels are the pool's less kaitoctl's own."""
    tags = _tags(pool)
    if POOL_TAG_ADOPTED not in tags:
        return None
    name = str(pool.get("name", ""))
    if recorded is not None and recorded.get("pool") == name:
        return recorded
    try:
        count = max(0, int(tags[POOL_TAG_ADOPTED]))
    except (TypeError, ValueError):
        count = int(((pool.get("properties") or pool).get("count")) or 0)  # never below what it has now
    labels = (pool.get("properties") or pool).get("nodeLabels") or {}
    return {
        "pool": name,
        "count": count,
        "tags": {k: v for k, v in tags.items() if k not in (POOL_TAG_ADOPTED, POOL_TAG_WORKSPACE)},
        "nodeLabels": {k: v for k, v in labels.items() if not k.startswith("kaitoctl.io/")},
    }


def recorded_adoption(record_raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The adopted pool's original state as the workspace record keeps it (None: none, or unreadable)."""
    annotations = ((record_raw or {}).get("metadata") or {}).get("annotations") or {}
    try:
        found = json.loads(annotations[ADOPTED_ANNOTATION])
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("count"), int):
        return None
    return found


# What ARM reports but a PUT does not set (AgentPool's read-only properties).
READ_ONLY = ("provisioningState", "currentOrchestratorVersion", "nodeImageVersion", "eTag", "status")


def _writable_properties(pool: dict[str, Any]) -> dict[str, Any]:
    """All of a pool's settings a PUT can send back: an adopted pool keeps what kaitoctl does not manage
    (autoscaling, zones, max pods, ...) instead of a PUT resetting it to AKS's defaults."""
    props = pool.get("properties") or {}
    return {k: v for k, v in props.items() if k not in READ_ONLY and v is not None}


def _kept_properties(pool: dict[str, Any]) -> dict[str, Any]:
    """What an update PUT sends back unchanged (a PUT replaces the pool's properties)."""
    props = pool.get("properties") or {}
    keep = ("vmSize", "mode", "type", "osType", "osSKU", "osDiskSizeGB", "nodeLabels", "nodeTaints", "tags")
    return {k: v for k, v in props.items() if k in (*keep, *KEPT_ON_UPDATE)}


@dataclass(frozen=True)
class TaggedPool:
    """An agent pool that carries kaitoctl's tags: whose workspace it serves, and what it holds."""

    name: str
    workspace: str  # "<namespace>/<name>", from the kaitoctl-workspace tag
    vm_size: str
    count: int
    state: str  # provisioningState

    @property
    def namespace(self) -> str:
        return self.workspace.partition("/")[0]

    @property
    def workspace_name(self) -> str:
        return self.workspace.partition("/")[2]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool": self.name,
            "workspace": self.workspace_name,
            "namespace": self.namespace,
            "vmSize": self.vm_size,
            "count": self.count,
            "provisioningState": self.state,
        }


def tagged_pools(aks: AksApi) -> list[TaggedPool]:
    """kaitoctl's pools of the cluster, found by their tags. One ARM list call; the filter is client-side (the
    agentPools List operation has no tag filter)."""
    found = []
    for pool in aks.list_pools():
        owner = owner_of(pool)
        if not owner or "/" not in owner:
            continue
        props = pool.get("properties") or pool
        found.append(
            TaggedPool(
                name=str(pool.get("name", "")),
                workspace=owner,
                vm_size=str(props.get("vmSize", "")),
                count=int(props.get("count") or 0),
                state=str(props.get("provisioningState", "")),
            )
        )
    return sorted(found, key=lambda p: (p.workspace, p.name))


def orphaned(pools: list[TaggedPool], recorded: set[tuple[str, str]], namespace: str | None) -> list[TaggedPool]:
    """The pools whose workspace has no record (in `namespace`, or any when None): a half-failed run's leftovers
    that nothing else names, and that cost money until released."""
    return [
        p
        for p in pools
        if (namespace is None or p.namespace == namespace) and (p.namespace, p.workspace_name) not in recorded
    ]


class PoolFinder:
    """Lists kaitoctl's pools on first use, when an AKS cluster is configured or discoverable (None otherwise):
    `delete` and `status` only ask Azure when they need to."""

    def __init__(
        self, opts: RunOptions, kube: KubeApi | None, aks: Callable[[AksTarget], AksApi] | None = None
    ) -> None:
        self.opts, self.kube, self.aks = opts, kube, aks
        self._target: AksTarget | None = None
        self._resolved = False
        self._pools: list[TaggedPool] | None = None
        self._client: AksApi | None = None

    def target(self) -> AksTarget | None:
        if not self._resolved:
            self._target = resolve_target(self.opts, self.kube, aks=self.aks)
            self._resolved = True
        return self._target

    def client(self) -> AksApi | None:
        target = self.target()
        if target is not None and self._client is None:
            self._client = self.aks(target) if self.aks is not None else Aks(target)
        return self._client

    def pools(self) -> list[TaggedPool] | None:
        if self._pools is None:
            client = self.client()
            if client is None:
                return None
            self._pools = tagged_pools(client)
        return self._pools


class PoolOperations:
    """One workspace's pool: preflight, start (background), finish, release."""

    def __init__(
        self, target: AksTarget, opts: RunOptions, kube: KubeApi, catalog: Catalog, *, aks: AksApi | None = None
    ) -> None:
        self.target = target
        self.opts = opts
        self.kube = kube
        self.catalog = catalog
        self.aks: AksApi = aks if aks is not None else Aks(target)
        self.existing: dict[str, Any] | None = None
        # create | scale | update | unchanged | wait (follow a running operation) | recreate (delete, then create)
        self.action = "create"
        # The pool is being deleted (e.g. an interrupted `kaitoctl delete`): wait until it is gone, then create.
        self.after_delete = False
        # Properties the PUT takes from Azure: the cluster's subnets, an existing pool's immutable settings.
        self.extra: dict[str, Any] = {}
        self.location = ""
        self.progress: Progress | None = None
        self.warnings: list[str] = []
        self.thread: threading.Thread | None = None
        self.updates: queue.Queue[Update] | None = None
        self.error: KaitoctlError | None = None
        self.price_per_hour: float | None = None  # USD for the whole pool, when Azure lists a price
        # An adopted pool as it was before (--adopt, or a re-run on one): never scaled below its count, never
        # deleted, given back as it was on cleanup. `recorded_adoption`: what the workspace record keeps of it.
        self.adopted: dict[str, Any] | None = None
        self.recorded_adoption: dict[str, Any] | None = None

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self.progress is not None:
            self.progress.warn(text)

    # -- before any write -----------------------------------------------------------------------------------------

    def preflight(self, plan: Plan, progress: Progress | None = None) -> str:
        """Cluster reachable, pool name ours (or free), immutable properties unchanged, vCPU quota enough.

        Returns the action. Raises before anything is written.
        """
        self.progress = progress
        name = plan.placement.pool_name
        assert name is not None
        cluster = self.aks.cluster()
        self.location = str(cluster.get("location", ""))
        self.existing = self.aks.get_pool(name)
        props = ((self.existing or {}).get("properties") or self.existing or {}) if self.existing else {}
        state = str(props.get("provisioningState", ""))
        if self.existing is not None and state == "Deleting":
            self.existing, props = None, {}
            self.after_delete = True
        if self.existing is None:
            self.action = "create"
            self.extra = subnets_of(cluster)
        else:
            self._check_existing(plan, name, props)
        self._check_quota(plan)
        if progress is not None:
            spot = plan.placement.spot
            price, status = price_lookup(plan.sku.name, self.location, spot=spot)
            if price is not None:
                self.price_per_hour = price * plan.placement.nodes
                progress.info(
                    f"cost: ${price * plan.placement.nodes:.2f}/h for {plan.placement.nodes} × {plan.sku.name} in "
                    f"{self.location} ({'Spot' if spot else 'pay-as-you-go'} retail price)"
                )
            elif status == "unlisted":
                progress.info(f"cost: no Azure retail price listed for {plan.sku.name} in {self.location}")
            else:
                progress.info("cost: Azure retail price unavailable (prices.azure.com unreachable)")
        return self.action

    def _check_existing(self, plan: Plan, name: str, props: dict[str, Any]) -> None:
        """An existing pool: ours (or adopted), and its immutable properties are what the plan needs."""
        assert self.existing is not None
        workspace = f"{plan.namespace}/{plan.spec.name}"
        owner = owner_of(self.existing)
        if owner is None and not self.opts.adopt:
            raise CloudError(
                f"agent pool {name} exists and was not created by kaitoctl",
                code="PoolConflict",
                hint="re-run with --adopt to let kaitoctl use it (it is scaled up if needed, never down, and "
                "given back as it was on cleanup), or choose another --name",
            )
        if owner and owner != workspace:
            raise CloudError(
                f"agent pool {name} belongs to kaitoctl workspace {owner}",
                code="PoolConflict",
                hint="choose another --name (pool names derive from namespace and name)",
            )
        if owner is None:  # --adopt: remember the pool as it is, before the first write to it
            self.adopted = {
                "pool": name,
                "count": int(props.get("count") or 0),
                "tags": _tags(self.existing),
                "nodeLabels": dict(props.get("nodeLabels") or {}),
            }
        else:
            self.adopted = adoption_of(self.existing, self.recorded_adoption)
        wanted = self.body(plan)["properties"]
        # What AKS cannot change in place (agent pool PUT answers PropertyChangeNotAllowed): the VM size, the OS SKU,
        # and the OS disk size.
        fixed: list[tuple[str, str, str]] = []
        if str(props.get("vmSize", "")).lower() != plan.sku.name.lower():
            fixed.append(("--instance-type", f"runs {props.get('vmSize')}", "a pool's VM size cannot change"))
        priority = str(props.get("scaleSetPriority") or "Regular")
        if (priority.lower() == "spot") != plan.placement.spot:
            wanted_priority = "Spot" if plan.placement.spot else "Regular"
            why = f"a pool's priority cannot change to {wanted_priority}"
            fixed.append(("--spot", f"has {priority} priority", why))
        if str(props.get("osSKU") or OS_SKU).lower() != OS_SKU.lower():
            fixed.append(("osSKU", f"runs OS SKU {props.get('osSKU')}", f"kaitoctl's GPU pools run {OS_SKU}"))
        disk = int(props.get("osDiskSizeGB") or 0)
        if disk and disk < wanted["osDiskSizeGB"]:
            fixed.append(
                (
                    "osDiskSizeGB",
                    f"has a {disk} GB OS disk",
                    f"{plan.preset.name} needs {wanted['osDiskSizeGB']} GB and a pool's OS disk cannot grow",
                )
            )
        self.extra = {k: props[k] for k in KEPT_ON_UPDATE if props.get(k)}
        if disk > wanted["osDiskSizeGB"]:
            self.extra["osDiskSizeGB"] = disk  # larger than needed: keep it rather than ask AKS to shrink it
        if fixed and self.adopted is not None:
            field, what, why = fixed[0]
            raise InvalidInput(
                field,
                f"agent pool {name} {what}; {why}, and kaitoctl never deletes a pool it adopted (--recreate would)",
                "choose settings the pool has, or another --name for a pool of kaitoctl's own",
            )
        if fixed:
            if not self.opts.recreate:
                field, what, why = fixed[0]
                also = f" (it also {'; '.join(f[1] for f in fixed[1:])})" if fixed[1:] else ""
                raise InvalidInput(
                    field,
                    f"agent pool {name} {what}; {why}{also}",
                    f"re-run with --recreate (deletes agent pool {name} after the workload and creates it anew), "
                    "or choose another --name",
                )
            self.action = "recreate"
            self.extra = {k: v for k, v in self.extra.items() if k in ("vnetSubnetID", "podSubnetID")}
            return
        same = (
            props.get("count") == wanted["count"]
            and (props.get("nodeLabels") or {}) == wanted["nodeLabels"]
            and str(props.get("provisioningState")) == "Succeeded"
            and (self.adopted is None or _tags(self.existing) == wanted["tags"])
        )
        self.action = "unchanged" if same else ("scale" if props.get("count") != wanted["count"] else "update")
        if str(props.get("provisioningState")) not in ("Succeeded", "Failed", "Canceled"):
            self.action = "wait"  # an operation is still running (e.g. after Ctrl-C): follow it, don't PUT

    def _check_quota(self, plan: Plan) -> None:
        family = plan.sku.quota_family
        props = ((self.existing or {}).get("properties") or self.existing or {}) if self.existing else {}
        same_size = str(props.get("vmSize", "")).lower() == plan.sku.name.lower()
        current_count = int(props.get("count") or 0) if same_size else 0
        extra_nodes = max(0, plan.placement.nodes - current_count)
        if extra_nodes == 0:
            return
        needed = extra_nodes * plan.sku.vcpus
        # A pool recreated with another size frees its vCPUs before the new one is created.
        freed_total = freed_family = 0
        old_sku = None if same_size or self.action != "recreate" else self.catalog.sku(str(props.get("vmSize", "")))
        if old_sku is not None:
            freed_total = int(props.get("count") or 0) * old_sku.vcpus
            same_family = quota_key(old_sku.quota_family or "-") == quota_key(family or "")
            freed_family = freed_total if same_family else 0
        usages = self.aks.usages(self.location)
        if usages is None:
            self._warn(
                f"vCPU quota not checked: your identity may not read the Compute usages of the subscription "
                f"({USAGES_ACTION} at subscription scope); Azure will refuse the pool if the quota is short"
            )
            return
        if plan.placement.spot:
            checks = self._spot_quota(usages, freed_total)
        else:
            checks = self._regular_quota(plan, usages, freed_total, freed_family)
        for key, label, (used, limit) in checks:
            if used + needed > limit:
                raise CloudError(
                    f"not enough {label} in {self.location}: {plan.placement.nodes} × {plan.sku.name} needs "
                    f"{needed} more, {limit - used} of {limit} left (in use: {used})",
                    code="QuotaExceeded",
                    hint=f"request at least {used + needed} for {key} in {self.location} "
                    f"(portal: Quotas → Compute, or `az quota update`), or choose another --instance-type",
                )

    def _spot_quota(self, usages: dict[str, tuple[int, int]], freed: int) -> list[tuple[str, str, tuple[int, int]]]:
        """Spot VMs count against the region's low-priority vCPU quota, not their family's."""
        found = find_usage(usages, SPOT_USAGE)
        if found is None:
            self._warn(f"Spot vCPU quota not checked: Azure lists no {SPOT_USAGE} usage in {self.location}")
            return []
        return [(found[0], "Spot (low-priority) vCPUs", (found[1][0] - freed, found[1][1]))]

    def _regular_quota(
        self, plan: Plan, usages: dict[str, tuple[int, int]], freed_total: int, freed_family: int
    ) -> list[tuple[str, str, tuple[int, int]]]:
        """The family's vCPUs and the region's total: (usage name, label, (in use after what is freed, limit))."""
        family = plan.sku.quota_family
        checks: list[tuple[str, str, tuple[int, int]]] = []
        if family:
            found = find_usage(usages, family)
            if found is None:
                self._warn(
                    f"vCPU quota of {plan.sku.name}'s family not checked: Azure lists no usage named like "
                    f"{family} in {self.location}"
                )
            else:
                checks.append((found[0], f"{found[0]} vCPUs", (found[1][0] - freed_family, found[1][1])))
        else:
            self._warn(f"vCPU quota of {plan.sku.name}'s family not checked: the catalog names no quota family")
        regional = find_usage(usages, REGIONAL_USAGE)
        if regional is None:
            self._warn(f"total regional vCPU quota not checked: Azure lists no 'cores' usage in {self.location}")
        else:
            checks.append((regional[0], "total regional vCPUs", (regional[1][0] - freed_total, regional[1][1])))
        return checks

    def body(self, plan: Plan) -> dict[str, Any]:
        """The PUT body. An adopted pool keeps its taints, its other labels and tags, and at least its count."""
        body = pool_body(plan, self.extra)
        if self.adopted is None or self.existing is None:
            return body
        current = self.existing.get("properties") or self.existing
        props = body["properties"] = {**_writable_properties(self.existing), **body["properties"]}
        props["count"] = max(int(props["count"]), int(self.adopted["count"]))
        props["nodeLabels"] = {**(current.get("nodeLabels") or {}), **props["nodeLabels"]}
        props["nodeTaints"] = list(current.get("nodeTaints") or [])
        props["tags"] = {
            **_tags(self.existing),
            POOL_TAG_WORKSPACE: f"{plan.namespace}/{plan.spec.name}",
            POOL_TAG_ADOPTED: str(self.adopted["count"]),
        }
        return body

    # -- the operation ----------------------------------------------------------------------------------------------

    def start(self, plan: Plan, updates: queue.Queue[Update]) -> None:
        """Start the create/scale in a thread; progress and the outcome go to `updates` (key "pool").

        A pool that must go first (--recreate, or one still being deleted) is gone before this returns, so that no
        pod of the workload applied next lands on its old nodes.
        """
        self.updates = updates
        name = plan.placement.pool_name
        assert name is not None
        if self.action == "unchanged":
            self._post({"state": "Succeeded", "action": "unchanged"})
            return
        if self.action == "recreate":
            self._post({"state": "Deleting", "action": f"agent pool {name}: recreate"})
            if self.progress is not None:
                self.progress.update(NODE_POOL, "Deleting", f"deleting agent pool {name} to recreate it")
            self.aks.wait(self.aks.begin_delete_pool(name), f"deleting agent pool {name} (--recreate)")
        elif self.after_delete:
            if self.progress is not None:
                self.progress.update(NODE_POOL, "Deleting", f"waiting for the delete of agent pool {name} to end")
            wait_deleted(self.aks, name)
        if self.action not in ("wait",) and not self.opts.no_device_plugin:
            self.ensure_device_plugin()

        def run() -> None:
            accepted = False
            try:
                if self.action == "wait":
                    self._post({"state": "waiting for the running operation"})
                    self._follow_existing(name)
                else:
                    poller = self.aks.begin_put_pool(name, self.body(plan))
                    accepted = True
                    doing = {"create": "Creating", "recreate": "Creating", "scale": "Scaling"}.get(
                        self.action, "Updating"
                    )
                    what = f"agent pool {name}: {plan.placement.nodes} × {plan.sku.name}"
                    self._post({"state": doing, "action": what})
                    self.aks.wait(
                        poller,
                        f"{self.action} of agent pool {name}",
                        on_status=lambda s: self._post({"state": doing if s == "InProgress" else s, "action": what}),
                    )
                self._post({"state": "Succeeded", "action": f"agent pool {name}: {self.action}"})
            except KaitoctlError as exc:
                if isinstance(exc, CloudError) and self.action in ("create", "recreate") and accepted:
                    exc.hint = (
                        exc.hint or ""
                    ) + f" — the half-created pool is removed by `kaitoctl delete {plan.spec.name}`"
                self.error = exc
                self._post({"state": "Failed", "error": exc})

        self.thread = threading.Thread(target=run, name="agent-pool", daemon=True)
        self.thread.start()

    def _follow_existing(self, name: str) -> None:
        """Poll a pool's running operation (not a delete) to its end."""
        import time

        while True:
            pool = self.aks.get_pool(name)
            state = str(((pool or {}).get("properties") or pool or {}).get("provisioningState", "Gone"))
            self._post({"state": state, "action": "wait"})
            if state in ("Succeeded", "Gone"):
                return
            if state in ("Failed", "Canceled"):
                raise CloudError(
                    f"the running operation on agent pool {name} ended {state}",
                    code="OperationFailed",
                    hint=f"see the pool in the portal or `az aks nodepool show -n {name}`; then re-run",
                )
            time.sleep(max(self.aks.poll_interval, 0.05))

    def _post(self, state: dict[str, Any]) -> None:
        if self.updates is not None:
            self.updates.put(Update("pool", "side", obj=state))

    def finish(self, timeout_s: float | None = None) -> None:
        """Wait for the pool operation to end (its nodes may be ready earlier); raise its error."""
        if self.thread is not None:
            self.thread.join(timeout_s)
        if self.error is not None:
            raise self.error

    def ensure_device_plugin(self) -> str:
        """Install the NVIDIA device plugin unless one (ours, Kaito's or the GPU operator's) runs already."""
        items, _ = self.kube.list(
            resource_path("apps/v1", "DaemonSet"), field_selector=f"metadata.name={DEVICE_PLUGIN_NAME}"
        )
        operator, _ = self.kube.list(
            resource_path("apps/v1", "DaemonSet"), label_selector="app.kubernetes.io/managed-by=gpu-operator"
        )
        if items or operator:
            return "present"
        image = self.catalog.defaults.images["device_plugin"]
        for obj in render_device_plugin(image):
            self.kube.apply(obj)
        return "installed"

    # -- afterwards -------------------------------------------------------------------------------------------------

    def release(self, plan: Plan, *, keep_pool: bool = False) -> str:
        return release_pool(
            self.aks,
            plan.placement.pool_name or "",
            f"{plan.namespace}/{plan.spec.name}",
            keep_pool=keep_pool,
            adopted=self.adopted or self.recorded_adoption,
        )


def release_pool(
    aks: AksApi, name: str, workspace: str, *, keep_pool: bool = False, adopted: dict[str, Any] | None = None
) -> str:
    """Delete (or scale to 0) a pool kaitoctl created for `workspace`; give an adopted one back as it was (its
    count, tags and labels; never deleted, never scaled to 0 unless it was). `adopted`: its original state from
    the workspace record. Returns what happened."""
    pool = aks.get_pool(name)
    if pool is None:
        return "absent"
    owner = owner_of(pool)
    if owner != workspace:
        return f"kept (not created by kaitoctl for {workspace})"
    original = adoption_of(pool, adopted)
    if original is not None:
        props = _writable_properties(pool)
        body = {
            "properties": {
                **props,
                "count": int(original["count"]),
                "tags": dict(original.get("tags") or {}),
                "nodeLabels": dict(original.get("nodeLabels") or {}),
            }
        }
        aks.wait(aks.begin_put_pool(name, body), f"restoring adopted agent pool {name}")
        return f"restored to {original['count']} node(s) (adopted: kept)"
    if keep_pool:
        body = {"properties": {**_kept_properties(pool), "count": 0}}
        aks.wait(aks.begin_put_pool(name, body), f"scaling agent pool {name} to 0")
        return "scaled to 0"
    if str((pool.get("properties") or pool).get("provisioningState")) == "Deleting":
        # A delete is already running (e.g. an interrupted `kaitoctl delete`): a second DELETE would be refused
        # with OperationNotAllowed; follow the running one instead.
        wait_deleted(aks, name)
        return "deleted"
    aks.wait(aks.begin_delete_pool(name), f"deleting agent pool {name}")
    return "deleted"


def wait_deleted(aks: AksApi, name: str) -> None:
    """Poll a pool that is being deleted until it is gone; a delete that ends Failed or Canceled raises."""
    import time

    while True:
        pool = aks.get_pool(name)
        if pool is None:
            return
        state = str((pool.get("properties") or pool).get("provisioningState"))
        if state in ("Failed", "Canceled", "Succeeded"):
            raise CloudError(
                f"the delete of agent pool {name} ended {state}",
                code="OperationFailed",
                hint=f"see the pool in the portal or `az aks nodepool show -n {name}`; then re-run",
            )
        time.sleep(max(aks.poll_interval, 0.05))
