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
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kaitoctl.adapters.aks import CLOUDS, Aks, AksTarget, hourly_price
from kaitoctl.adapters.k8s import resource_path
from kaitoctl.core.catalog import Catalog
from kaitoctl.core.errors import CloudError, InvalidInput, KaitoctlError
from kaitoctl.core.naming import (
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    MANAGED_BY,
    POOL_TAG_MANAGED_BY,
    POOL_TAG_WORKSPACE,
)
from kaitoctl.core.plan import Plan
from kaitoctl.core.render import render_device_plugin
from kaitoctl.ops.interfaces import AksApi, KubeApi
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.progress import Progress
from kaitoctl.ops.watch import Update

NODE_POOL = "NodePool"
DEVICE_PLUGIN_NAME = "nvidia-device-plugin-daemonset"
# Azure's minimum OS disk for GPU images is well below these; Kaito sizes the disk from the preset.
MIN_OS_DISK_GB = 128


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


def _is_aks_server(server: str) -> bool:
    return (urlparse(server).hostname or "").endswith(".azmk8s.io")


def resolve_target(opts: RunOptions, kube: KubeApi | None) -> AksTarget | None:
    """Where node pools go: flags, then environment, then the kube context (an AKS API server), like az/kubectl.

    None when nothing points at Azure (a non-AKS cluster and no --cluster/--resource-group).
    """
    cloud = (opts.cloud or "AzureCloud").lower()
    if cloud not in CLOUDS:
        raise InvalidInput(
            "--cloud", f"unknown cloud {opts.cloud!r}", "use AzureCloud, AzureChinaCloud or AzureUSGovernment"
        )
    endpoint = os.environ.get("KAITOCTL_ARM_ENDPOINT") or None
    ca_bundle = os.environ.get("KAITOCTL_ARM_CA_BUNDLE") or None
    server = kube.context.server if kube else ""
    aks_context = _is_aks_server(server)
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
        aks = Aks(AksTarget(subscription, resource_group or "", cluster or "", cloud, endpoint, ca_bundle))
        host = urlparse(server).hostname or ""
        for found in aks.list_clusters():
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


def pool_body(plan: Plan) -> dict[str, Any]:
    """The agent pool kaitoctl wants for a workspace (ARM wire shape)."""
    disk = plan.preset.tuning.disk_gib if plan.spec.tuning and plan.preset.tuning else plan.preset.disk_gib
    return {
        "properties": {
            "count": plan.placement.nodes,
            "vmSize": plan.sku.name,
            "mode": "User",
            "type": "VirtualMachineScaleSets",
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "osDiskSizeGB": max(int(disk), MIN_OS_DISK_GB),
            "nodeLabels": dict(sorted(plan.placement.pool_labels.items())),
            "nodeTaints": [f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:NoSchedule"],
            "tags": {POOL_TAG_MANAGED_BY: MANAGED_BY, POOL_TAG_WORKSPACE: f"{plan.namespace}/{plan.spec.name}"},
        }
    }


def owner_of(pool: dict[str, Any]) -> str | None:
    tags = (pool.get("properties") or {}).get("tags") or pool.get("tags") or {}
    if tags.get(POOL_TAG_MANAGED_BY) != MANAGED_BY:
        return None
    return str(tags.get(POOL_TAG_WORKSPACE) or "")


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
        self.action = "create"
        self.location = ""
        self.thread: threading.Thread | None = None
        self.updates: queue.Queue[Update] | None = None
        self.error: KaitoctlError | None = None

    # -- before any write -----------------------------------------------------------------------------------------

    def preflight(self, plan: Plan, progress: Progress | None = None) -> str:
        """Cluster reachable, pool name ours (or free), vmSize unchanged, vCPU quota enough. Returns the action."""
        name = plan.placement.pool_name
        assert name is not None
        cluster = self.aks.cluster()
        self.location = str(cluster.get("location", ""))
        self.existing = self.aks.get_pool(name)
        workspace = f"{plan.namespace}/{plan.spec.name}"
        wanted = pool_body(plan)["properties"]
        if self.existing is not None:
            props = self.existing.get("properties") or self.existing
            owner = owner_of(self.existing)
            if owner is None and not self.opts.adopt:
                raise CloudError(
                    f"agent pool {name} exists and was not created by kaitoctl",
                    code="PoolConflict",
                    hint="re-run with --adopt to let kaitoctl manage it, or choose another --name",
                )
            if owner and owner != workspace:
                raise CloudError(
                    f"agent pool {name} belongs to kaitoctl workspace {owner}",
                    code="PoolConflict",
                    hint="choose another --name (pool names derive from namespace and name)",
                )
            if str(props.get("vmSize", "")).lower() != plan.sku.name.lower():
                raise InvalidInput(
                    "--instance-type",
                    f"pool {name} runs {props.get('vmSize')}; a pool's VM size cannot change",
                    "re-run with --recreate, or keep the instance type",
                )
            same = (
                props.get("count") == wanted["count"]
                and (props.get("nodeLabels") or {}) == wanted["nodeLabels"]
                and str(props.get("provisioningState")) == "Succeeded"
            )
            self.action = "unchanged" if same else ("scale" if props.get("count") != wanted["count"] else "update")
            if str(props.get("provisioningState")) not in ("Succeeded", "Failed", "Canceled"):
                self.action = "wait"  # an operation is still running (e.g. after Ctrl-C): follow it, don't PUT
        self._check_quota(plan)
        if progress is not None:
            price = hourly_price(plan.sku.name, self.location)
            if price is None:
                progress.info("cost: Azure retail price unavailable (prices.azure.com unreachable)")
            else:
                progress.info(
                    f"cost: ${price * plan.placement.nodes:.2f}/h for {plan.placement.nodes} × {plan.sku.name} in "
                    f"{self.location} (pay-as-you-go retail price)"
                )
        return self.action

    def _check_quota(self, plan: Plan) -> None:
        family = plan.sku.quota_family
        current_count = int(((self.existing or {}).get("properties") or self.existing or {}).get("count") or 0)
        extra_nodes = max(0, plan.placement.nodes - current_count)
        if not family or extra_nodes == 0:
            return
        needed = extra_nodes * plan.sku.vcpus
        usages = self.aks.usages(self.location)
        for key, label in ((family, f"{family} vCPUs"), ("cores", "total regional vCPUs")):
            if key not in usages:
                continue
            used, limit = usages[key]
            if used + needed > limit:
                raise CloudError(
                    f"not enough {label} in {self.location}: {plan.placement.nodes} × {plan.sku.name} needs "
                    f"{needed} more, {limit - used} of {limit} left (in use: {used})",
                    code="QuotaExceeded",
                    hint=f"request at least {used + needed} for {key} in {self.location} "
                    f"(portal: Quotas → Compute, or `az quota update`), or choose another --instance-type",
                )

    # -- the operation ----------------------------------------------------------------------------------------------

    def start(self, plan: Plan, updates: queue.Queue[Update]) -> None:
        """Start the create/scale in a thread; progress and the outcome go to `updates` (key "pool")."""
        self.updates = updates
        name = plan.placement.pool_name
        assert name is not None
        if self.action == "unchanged":
            self._post({"state": "Succeeded", "action": "unchanged"})
            return
        if self.action != "wait" and not self.opts.no_device_plugin:
            self.ensure_device_plugin()

        def run() -> None:
            accepted = False
            try:
                if self.action == "wait":
                    poller = None
                    self._post({"state": "waiting for the running operation"})
                    self._follow_existing(name)
                else:
                    poller = self.aks.begin_put_pool(name, pool_body(plan))
                    accepted = True
                    doing = {"create": "Creating", "scale": "Scaling"}.get(self.action, "Updating")
                    what = f"agent pool {name}: {plan.placement.nodes} × {plan.sku.name}"
                    self._post({"state": doing, "action": what})
                    self.aks.wait(
                        poller,
                        f"{self.action} of agent pool {name}",
                        on_status=lambda s: self._post({"state": doing if s == "InProgress" else s, "action": what}),
                    )
                self._post({"state": "Succeeded", "action": f"agent pool {name}: {self.action}"})
            except KaitoctlError as exc:
                if isinstance(exc, CloudError) and self.action == "create" and accepted:
                    exc.hint = (
                        exc.hint or ""
                    ) + f" — the half-created pool is removed by `kaitoctl delete {plan.spec.name}`"
                self.error = exc
                self._post({"state": "Failed", "error": exc})

        self.thread = threading.Thread(target=run, name="agent-pool", daemon=True)
        self.thread.start()

    def _follow_existing(self, name: str) -> None:
        import time

        while True:
            pool = self.aks.get_pool(name)
            state = str(((pool or {}).get("properties") or pool or {}).get("provisioningState", "Gone"))
            self._post({"state": state, "action": "wait"})
            if state in ("Succeeded", "Gone"):
                return
            if state in ("Failed", "Canceled"):
                raise CloudError(f"the running operation on agent pool {name} ended {state}", code="OperationFailed")
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
            self.aks, plan.placement.pool_name or "", f"{plan.namespace}/{plan.spec.name}", keep_pool=keep_pool
        )


def release_pool(aks: AksApi, name: str, workspace: str, *, keep_pool: bool = False) -> str:
    """Delete (or scale to 0) a pool kaitoctl created for `workspace`. Returns what happened."""
    pool = aks.get_pool(name)
    if pool is None:
        return "absent"
    owner = owner_of(pool)
    if owner != workspace:
        return f"kept (not created by kaitoctl for {workspace})"
    if keep_pool:
        body = {
            "properties": {
                **{
                    k: v
                    for k, v in (pool.get("properties") or {}).items()
                    if k
                    in ("vmSize", "mode", "type", "osType", "osSKU", "osDiskSizeGB", "nodeLabels", "nodeTaints", "tags")
                },
                "count": 0,
            }
        }
        aks.wait(aks.begin_put_pool(name, body), f"scaling agent pool {name} to 0")
        return "scaled to 0"
    aks.wait(aks.begin_delete_pool(name), f"deleting agent pool {name}")
    return "deleted"
