"""The emulated ARM resources (one managed cluster and its agent pools), quota and long-running operations.

Timeline of one operation, in wall-clock seconds from the request (not poll counts, so a slow and a fast
poller see the same story):

    0 ............ nodes_at ............ duration
    PUT/DELETE     VMs exist: nodes      status Succeeded/Failed (a failed operation changes no VMs)
    answered       join the cluster      pool provisioningState follows

`nodes_at` defaults to 80% of the duration: on AKS the VMSS instances register as nodes, then the operation
finishes. When nodes_at <= duration the operation does not report Succeeded before the node side effects are
done, so a client that sees Succeeded can rely on the nodes being there. A later nodes_at (a test of "the pool
says Succeeded but the nodes are late") is allowed and then not waited for.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.harness.aks_emulator import catalog
from tests.harness.aks_emulator.faults import OPERATION_NOT_ALLOWED, VM_SIZE_NOT_ALLOWED

POOL_NAME_RE = r"^[a-z][a-z0-9]{0,11}$"
# MicrosoftDocs/azure-aks-docs articles/aks/use-labels.md, "Reserved prefixes" and "Reserved system labels".
RESERVED_LABEL_PREFIXES = ("kubernetes.azure.com/", "kubernetes.io/", "topology.kubernetes.io/")
RESERVED_LABELS = frozenset({"node.kubernetes.io/instance-type"})
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_TENANT = "11111111-1111-1111-1111-111111111111"
POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
# Made-up image version in the real format (AKSUbuntu-<os><gen><runtime>-<yyyymm.dd.n>); emulator value.
NODE_IMAGE_VERSION = "AKSUbuntu-2204gen2containerd-202611.01.0"
# How long a finished operation may wait for its node side effects before it reports anyway.
NODE_SYNC_GRACE_S = 30.0

OpKind = Literal["create", "scale", "update", "delete", "abort"]


class ArmError(Exception):
    """An ARM error answer: status, and the body {"error": {code, message, details}}."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.target = target

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            err["target"] = self.target
        if self.details:
            err["details"] = self.details
        return {"error": err}


def utc_iso(ts: float) -> str:
    """ARM's timestamp style: UTC, 'Z', fractional seconds."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


@dataclass
class PoolNodes:
    """What the Kubernetes side needs to know to make a pool's nodes look like AKS's."""

    pool: str
    vm_size: str
    mode: str
    indexes: list[int]
    labels: dict[str, str]
    taints: list[str]
    os_sku: str
    spot: bool


# Called with the pool's desired node set (None: the pool is gone); returns an Event set when done.
NodeSync = Callable[[str, PoolNodes | None], threading.Event]


@dataclass
class Pool:
    name: str
    props: dict[str, Any]
    provisioning_state: str = "Succeeded"
    vm_indexes: list[int] = field(default_factory=list)  # VMSS instance ids that exist
    next_index: int = 0
    error: dict[str, Any] | None = None
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def vm_size(self) -> str:
        return str(self.props["vmSize"])

    @property
    def mode(self) -> str:
        return str(self.props.get("mode", "User"))

    @property
    def count(self) -> int:
        return int(self.props.get("count", 1))


@dataclass
class Operation:
    id: str
    pool: str
    kind: OpKind
    start_wall: float
    start: float
    duration: float
    nodes_at: float
    target_count: int
    error: dict[str, Any] | None = None  # set: the operation ends Failed with it
    status: str = "InProgress"
    end_wall: float | None = None
    nodes_applied: bool = False
    nodes_done: threading.Event | None = None

    def to_json(self, sub: str, location: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{location}"
            f"/operations/{self.id}",
            "name": self.id,
            "status": self.status,
            "startTime": utc_iso(self.start_wall),
        }
        if self.end_wall is not None:
            body["endTime"] = utc_iso(self.end_wall)
        if self.status in ("Failed", "Canceled"):
            # Always present on failure: without it the SDK raises with e.error None (azure-mgmt-core 1.6.0
            # azure/mgmt/core/polling/arm_polling.py; checked with the real SDK against this emulator).
            body["error"] = self.error or {
                "code": "InternalOperationError",
                "message": "The operation failed.",
            }
        return body


@dataclass
class QuotaEntry:
    limit: int
    outside: int = 0  # vCPUs used by resources outside the emulated cluster (other VMs in the subscription)


class ArmState:
    """One subscription, one resource group, one managed cluster. Thread-safe; every public method locks."""

    def __init__(
        self,
        *,
        subscription: str = DEFAULT_SUBSCRIPTION,
        tenant: str = DEFAULT_TENANT,
        resource_group: str = "rg-local",
        cluster: str = "aks-local",
        location: str = "eastus",
        kubernetes_version: str = "1.36.3",
        operation_seconds: float = 0.5,
        nodes_ready_after_s: float | None = None,
        quota_mode: Literal["async", "sync"] = "async",
        gpu_family_limit: int = 100,
        cpu_family_limit: int = 350,
        regional_cores_limit: int = 1000,
        node_sync: NodeSync | None = None,
        vmss_id: str = "12345678",
        clock: Callable[[], float] = time.monotonic,
        pod_subnet: bool = False,
    ) -> None:
        self.vmss_id = vmss_id
        # Azure CNI with a dedicated pod subnet: nodepool1 has vnetSubnetID and podSubnetID, and AKS refuses a pool
        # without a pod subnet (see validate_put).
        self.pod_subnet = pod_subnet
        self.subscription = subscription
        self.tenant = tenant
        self.resource_group = resource_group
        self.cluster = cluster
        self.location = location
        self.kubernetes_version = kubernetes_version
        self.operation_seconds = operation_seconds
        self.nodes_ready_after_s = nodes_ready_after_s
        self.quota_mode = quota_mode
        self._defaults = (gpu_family_limit, cpu_family_limit, regional_cores_limit)
        self.node_sync = node_sync
        self._clock = clock
        self.lock = threading.RLock()
        self.pools: dict[str, Pool] = {}
        self.ops: dict[str, Operation] = {}
        self.quota: dict[str, QuotaEntry] = {}
        self.regional = QuotaEntry(regional_cores_limit)
        self.reset()

    # -- names

    @property
    def node_resource_group(self) -> str:
        return f"MC_{self.resource_group}_{self.cluster}_{self.location}"

    @property
    def cluster_id(self) -> str:
        # AKS returns ids with "resourcegroups" in lower case (Azure/azure-rest-api-specs
        # specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2025-07-01/examples).
        return (
            f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.cluster}"
        )

    @property
    def vmss_number(self) -> str:
        """The 8 digits in aks-<pool>-<digits>-vmss. On AKS they are the same for every pool of a cluster
        (seen in public logs); how AKS derives them is not public. The default matches the system node that
        the local-cluster harness registers (aks-nodepool1-12345678-vmss000000), so both agree on nodepool1."""
        return self.vmss_id

    @property
    def fqdn(self) -> str:
        return f"{self.cluster}-dns-{self.vmss_number}.hcp.{self.location}.azmk8s.io"

    def subnet_ids(self) -> dict[str, str]:
        """The node and pod subnets of a pod-subnet cluster (made-up VNet, real ID shape)."""
        vnet = (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            "/providers/Microsoft.Network/virtualNetworks/aks-vnet/subnets"
        )
        return {"vnetSubnetID": f"{vnet}/nodesubnet", "podSubnetID": f"{vnet}/podsubnet"}

    # -- lifecycle

    def reset(self) -> None:
        """Back to the start: only the System pool nodepool1 (D4s_v5 x1), default quota, no operations."""
        with self.lock:
            gpu_limit, cpu_limit, regional = self._defaults
            self.quota = {fam: QuotaEntry(gpu_limit) for fam in catalog.gpu_families()}
            self.quota.update({fam: QuotaEntry(cpu_limit) for fam in catalog.cpu_families()})
            self.regional = QuotaEntry(regional)
            self.ops.clear()
            old = list(self.pools)
            self.pools.clear()
            system_props: dict[str, Any] = {
                "count": 1,
                "vmSize": "Standard_D4s_v5",
                "mode": "System",
                "osType": "Linux",
                "osSKU": "Ubuntu",
            }
            if self.pod_subnet:
                system_props.update(self.subnet_ids())
            system = Pool(
                name="nodepool1",
                props=self._with_defaults(system_props),
                vm_indexes=[0],
                next_index=1,
            )
            self.pools[system.name] = system
            for name in old:
                if name != system.name:
                    self._sync_nodes(name, None)
            self._sync_nodes(system.name, self._pool_nodes(system))

    def set_quota(self, family: str, limit: int, current: int | None = None) -> None:
        """Set a family's vCPU limit (`cores` for the regional total). `current`: vCPUs used elsewhere."""
        with self.lock:
            if family.lower() == "cores":
                entry = self.regional
            else:
                # However the caller spells it, the row keeps Azure's spelling (catalog.GPU_FAMILIES).
                known = [f for f in self.quota if catalog.family_key(f) == catalog.family_key(family)]
                entry = self.quota.setdefault(known[0] if known else family, QuotaEntry(limit))
            entry.limit = limit
            if current is not None:
                entry.outside = current

    # -- quota

    def _pool_reserved_vms(self, pool: Pool) -> int:
        """VMs a pool holds or is about to hold (a running create/scale reserves its target)."""
        held = len(pool.vm_indexes)
        for op in self.ops.values():
            running = op.pool == pool.name and op.status == "InProgress" and op.error is None
            if running and op.kind in ("create", "scale", "update"):
                held = max(held, op.target_count)
        return held

    def family_usage(self, family: str) -> int:
        with self.lock:
            used = 0
            for pool in self.pools.values():
                size = catalog.lookup(pool.vm_size)
                if size and size.family == family:
                    used += size.vcpus * self._pool_reserved_vms(pool)
            entry = self.quota.get(family)
            return used + (entry.outside if entry else 0)

    def regional_usage(self) -> int:
        with self.lock:
            used = 0
            for pool in self.pools.values():
                size = catalog.lookup(pool.vm_size)
                if size:
                    used += size.vcpus * self._pool_reserved_vms(pool)
            return used + self.regional.outside + sum(q.outside for q in self.quota.values())

    def usages(self) -> list[dict[str, Any]]:
        """The Compute usages list for the region (vCPU families plus the regional total)."""
        with self.lock:
            vms = sum(self._pool_reserved_vms(p) for p in self.pools.values())
            rows: list[dict[str, Any]] = [
                _usage_row("availabilitySets", "Availability Sets", 0, 2500),
                _usage_row("cores", "Total Regional vCPUs", self.regional_usage(), self.regional.limit),
                _usage_row("virtualMachines", "Virtual Machines", vms, 25000),
                _usage_row("virtualMachineScaleSets", "Virtual Machine Scale Sets", len(self.pools), 2500),
            ]
            for family in sorted(self.quota):
                rows.append(
                    _usage_row(
                        family,
                        catalog.family_display_name(family),
                        self.family_usage(family),
                        self.quota[family].limit,
                    )
                )
            return rows

    def quota_problem(self, vm_size: str, additional_vms: int) -> dict[str, int | str] | None:
        """The first quota (family, then regional) that `additional_vms` more VMs would exceed, or None."""
        size = catalog.lookup(vm_size)
        if size is None or additional_vms <= 0:
            return None
        need = size.vcpus * additional_vms
        entry = self.quota.get(size.family)
        if entry is not None:
            used = self.family_usage(size.family)
            if used + need > entry.limit:
                return {"quota": f"{size.family} Cores", "limit": entry.limit, "usage": used, "need": need}
        used = self.regional_usage()
        if used + need > self.regional.limit:
            return {
                "quota": "Total Regional Cores",
                "limit": self.regional.limit,
                "usage": used,
                "need": need,
            }
        return None

    def quota_message(self, problem: dict[str, int | str], *, preflight: bool) -> str:
        """The QuotaExceeded message AKS relays from Compute (real wording: MicrosoftDocs/azure-docs#62378, cilium/cilium#31859)."""
        lead = "Preflight validation check for resource(s)" if preflight else "Provisioning of resource(s)"
        limit, usage, need = int(problem["limit"]), int(problem["usage"]), int(problem["need"])
        return (
            f"{lead} for container service {self.cluster} in resource group {self.resource_group} failed. "
            "Message: Operation could not be completed as it results in exceeding approved "
            f"{problem['quota']} "
            f"quota. Additional details - Deployment Model: Resource Manager, Location: {self.location}, "
            f"Current Limit: {limit}, Current Usage: {usage}, Additional Required: {need}, "
            f"(Minimum) New Limit Required: {usage + need}. Submit a request for Quota increase at "
            "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by "
            "specifying "
            "parameters listed in the ‘Details’ section for deployment to succeed. Please read more about "
            "quota "
            "limits at https://docs.microsoft.com/en-us/azure/azure-supportability/per-vm-quota-requests"
        )

    def forced_quota_problem(self, vm_size: str, count: int) -> dict[str, int | str]:
        """For an injected quota fault: pretend the family has no room left for `count` VMs."""
        size = catalog.lookup(vm_size)
        vcpus = size.vcpus if size else 1
        family = size.family if size else "cores"
        usage = self.family_usage(family) if size else self.regional_usage()
        return {"quota": f"{family} Cores", "limit": usage, "usage": usage, "need": vcpus * max(count, 1)}

    # -- agent pools

    def pool_json(self, pool: Pool) -> dict[str, Any]:
        props = dict(pool.props)
        props["provisioningState"] = pool.provisioning_state
        props["currentOrchestratorVersion"] = props.get("orchestratorVersion", self.kubernetes_version)
        props["eTag"] = pool.etag
        if pool.error is not None:
            props["status"] = {"provisioningError": pool.error}
        return {
            "id": f"{self.cluster_id}/agentPools/{pool.name}",
            "name": pool.name,
            "type": POOL_TYPE,
            "properties": props,
        }

    def get_pool(self, name: str) -> Pool:
        pool = self.pools.get(name)
        if pool is None:
            # 404 NotFound as ARM answers a missing child resource; code and message are unverified against AKS.
            raise ArmError(
                404,
                "NotFound",
                f"Could not find agent pool {name} in managed cluster {self.cluster} in resource group "
                f"{self.resource_group}.",
            )
        return pool

    def running_op(self, pool: str) -> Operation | None:
        for op in self.ops.values():
            if op.pool == pool and op.status == "InProgress":
                return op
        return None

    def _with_defaults(self, props: dict[str, Any]) -> dict[str, Any]:
        """Fill what AKS fills when the client leaves it out. Field names from the AgentPool model; the values
        are typical of AKS answers (guessed: e.g. the real OS disk default depends on the size)."""
        out: dict[str, Any] = {
            "count": 1,
            "osDiskSizeGB": 128,
            "osDiskType": "Managed",
            "kubeletDiskType": "OS",
            "maxPods": 110,
            "type": "VirtualMachineScaleSets",
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "orchestratorVersion": self.kubernetes_version,
            "nodeImageVersion": NODE_IMAGE_VERSION,
            "enableAutoScaling": False,
            "enableNodePublicIP": False,
            "enableFIPS": False,
            "scaleDownMode": "Delete",
            "upgradeSettings": {"maxSurge": "10%"},
            "powerState": {"code": "Running"},
        }
        out.update({k: v for k, v in props.items() if v is not None})
        if not out.get("osDiskSizeGB"):
            out["osDiskSizeGB"] = 128  # 0 means "the default for the size" (SDK model docstring)
        return out

    def validate_put(self, name: str, body: Any, existing: Pool | None) -> dict[str, Any]:
        """Check a PUT body the way AKS does before accepting it; return the properties to store.

        Codes follow the AgentPool API (400 InvalidParameter; Azure/azure-rest-api-specs
        specification/containerservice/resource-manager/Microsoft.ContainerService/aks/AgentPool.tsp); the messages are guesses at AKS's wording unless
        marked.
        """
        if not re.match(POOL_NAME_RE, name):
            raise ArmError(
                400,
                "InvalidParameter",
                "The value of parameter agentPoolProfile.name is invalid. Please see "
                "https://aka.ms/aks-naming-rules "
                f"for more details. Agent pool name '{name}' must start with a lowercase letter, have at "
                "most 12 "
                "characters and contain only lowercase letters and numbers.",
            )
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'properties' is required.")
        props: dict[str, Any] = dict(body["properties"])
        for ro in ("provisioningState", "currentOrchestratorVersion", "eTag", "status"):
            props.pop(ro, None)

        mode = props.get("mode")
        if mode not in ("System", "User", "Gateway"):
            raise ArmError(
                400,
                "InvalidParameter",
                "The value of parameter agentPoolProfile.mode is invalid. Mode must be set to 'System' or "
                "'User' "
                "on direct agent pool API calls.",
            )

        vm_size = props.get("vmSize")
        if existing is not None:
            if vm_size is None:
                props["vmSize"] = vm_size = existing.vm_size
            elif str(vm_size).lower() != existing.vm_size.lower():
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Changing property 'vmSize' is not allowed. The VM size of agent pool {name} is "
                    f"{existing.vm_size}; create a new agent pool to use {vm_size}.",
                )
            for immutable in ("osType", "osDiskType", "type"):
                if immutable not in props:
                    props[immutable] = existing.props.get(immutable)
            # OS SKU and OS disk size cannot change in place: AKS answers PropertyChangeNotAllowed (the code for
            # osSKU as reported in hashicorp/terraform-provider-azurerm#26730; for osDiskSizeGB and the exact
            # wording: unverified). Left out of the body, they keep the pool's values.
            for immutable in ("osSKU", "osDiskSizeGB", "vnetSubnetID", "podSubnetID"):
                new_value, old_value = props.get(immutable), existing.props.get(immutable)
                if new_value in (None, 0, ""):
                    props[immutable] = old_value
                elif str(new_value).lower() != str(old_value).lower():
                    raise ArmError(
                        400,
                        "PropertyChangeNotAllowed",
                        f"Changing property '{immutable}' is not allowed.",
                        target=immutable,
                    )
        elif not vm_size:
            raise ArmError(400, "InvalidParameter", "The value of parameter agentPoolProfile.vmSize is invalid.")

        count = props.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value of parameter agentPoolProfile.count is invalid: {count!r}.",
            )
        low = 1 if mode == "System" else 0
        if not low <= count <= 1000:
            raise ArmError(
                400,
                "InvalidParameter",
                "The value of parameter agentPoolProfile.count is invalid. Please see "
                "https://aka.ms/aks-naming-rules "
                f"for more details. Count must be between {low} and 1000 for a {mode} agent pool, got "
                f"{count}.",
            )
        props["count"] = count

        if existing is not None and existing.mode == "System" and mode != "System" and self._system_pools() == 1:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Cannot change the mode of agent pool {name}: the cluster must have at least one system agent pool.",
            )

        labels = props.get("nodeLabels") or {}
        if not isinstance(labels, dict):
            raise ArmError(400, "InvalidParameter", "The value of parameter agentPoolProfile.nodeLabels is invalid.")
        for key in labels:
            # Reserved prefixes and labels: MicrosoftDocs/azure-aks-docs articles/aks/use-labels.md ("Unavailable
            # labels": prefixes kubernetes.azure.com/ and kubernetes.io/, and the reserved system labels such as
            # node.kubernetes.io/instance-type and topology.kubernetes.io/region|zone). The doc says only that
            # AKS answers "an error message": the code and wording here are unverified.
            key = str(key)
            reserved = next((p for p in RESERVED_LABEL_PREFIXES if key.startswith(p)), None)
            if reserved is None and key in RESERVED_LABELS:
                reserved = key
            if reserved is not None:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Label key '{key}' is reserved ('{reserved}'): AKS reserved labels cannot be set on an "
                    "agent pool. See https://aka.ms/aks/labels.",
                )
        if existing is None and self.pod_subnet and not props.get("podSubnetID"):
            # Wording as users quote it (e.g. a public AKS Terraform write-up, "Pod Subnet Configuration
            # Inconsistency"); the code InvalidParameter is unverified.
            raise ArmError(400, "InvalidParameter", "All or none of the agentpools should set podsubnet.")
        taints = props.get("nodeTaints") or []
        if not isinstance(taints, list):
            raise ArmError(400, "InvalidParameter", "The value of parameter agentPoolProfile.nodeTaints is invalid.")
        for taint in taints:
            if parse_taint(str(taint)) is None:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The value of parameter agentPoolProfile.nodeTaints is invalid: '{taint}'. A taint "
                    "must look "
                    "like key=value:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute.",
                )
        return self._with_defaults(props)

    def check_vm_size(self, name: str, vm_size: str) -> None:
        """Sizes the emulator does not know, and retired ones, are not offered in the region (real wording).

        Retired: NCv3 retired on 2025-09-30 (presets.yaml); that Azure refuses it so is a guess.
        """
        size = catalog.lookup(vm_size)
        if size is None or size.retired:
            raise ArmError(400, "BadRequest", VM_SIZE_NOT_ALLOWED.format(pool=name, location=self.location))

    def _system_pools(self) -> int:
        return sum(1 for p in self.pools.values() if p.mode == "System" and p.provisioning_state != "Deleting")

    def check_not_busy(self, name: str) -> None:
        op = self.running_op(name)
        if op is not None:
            pool = self.pools.get(name)
            state = pool.provisioning_state if pool else "Deleting"
            raise ArmError(409, "OperationNotAllowed", OPERATION_NOT_ALLOWED.format(pool=name, state=state))

    def begin_put(
        self,
        name: str,
        props: dict[str, Any],
        *,
        duration: float | None = None,
        error: dict[str, Any] | None = None,
    ) -> tuple[Pool, Operation, bool]:
        """Accept a validated PUT: store the pool, start its operation. Returns (pool, op, created)."""
        existing = self.pools.get(name)
        created = existing is None
        if created:
            pool = Pool(name=name, props=props, provisioning_state="Creating")
            self.pools[name] = pool
            kind: OpKind = "create"
        else:
            assert existing is not None
            pool = existing
            kind = "scale" if props["count"] != pool.count else "update"
            pool.props = props
            pool.provisioning_state = "Scaling" if kind == "scale" else "Updating"
        pool.error = None
        pool.etag = uuid.uuid4().hex
        op = self._start_op(name, kind, props["count"], duration, error)
        return pool, op, created

    def begin_delete(
        self, name: str, *, duration: float | None = None, error: dict[str, Any] | None = None
    ) -> Operation:
        pool = self.pools[name]
        if pool.mode == "System" and self._system_pools() <= 1:
            # Rule from the AKS docs (articles/aks/use-system-pools.md); the wording is a guess.
            raise ArmError(
                400,
                "OperationNotAllowed",
                f"Cannot delete agent pool {name}: it is the last system agent pool of the cluster, and a "
                "cluster "
                "must have at least one system agent pool. See https://aka.ms/aks/system-pools.",
            )
        pool.provisioning_state = "Deleting"
        pool.etag = uuid.uuid4().hex
        return self._start_op(name, "delete", 0, duration, error)

    def abort(self, name: str) -> Operation | None:
        """Cancel the pool's running operation (POST .../abort). The cancel wording is a guess."""
        op = self.running_op(name)
        if op is None:
            return None
        op.status = "Canceled"
        op.end_wall = time.time()
        op.error = {"code": "OperationCanceled", "message": "The operation was canceled by an abort request."}
        pool = self.pools.get(name)
        if pool is not None:
            pool.provisioning_state = "Canceled"
        done = Operation(
            id=str(uuid.uuid4()),
            pool=name,
            kind="abort",
            start_wall=time.time(),
            start=self._clock(),
            duration=0.0,
            nodes_at=0.0,
            target_count=0,
            status="Succeeded",
            end_wall=time.time(),
            nodes_applied=True,
        )
        self.ops[done.id] = done
        return done

    def _start_op(
        self, pool: str, kind: OpKind, target: int, duration: float | None, error: dict[str, Any] | None
    ) -> Operation:
        length = self.operation_seconds if duration is None else duration
        nodes_after = 0.8 * length if self.nodes_ready_after_s is None else self.nodes_ready_after_s
        now = self._clock()
        op = Operation(
            id=str(uuid.uuid4()),
            pool=pool,
            kind=kind,
            start_wall=time.time(),
            start=now,
            duration=length,
            nodes_at=now + nodes_after,
            target_count=target,
            error=error,
        )
        self.ops[op.id] = op
        return op

    # -- the clock

    def advance(self) -> None:
        """Move every operation along its timeline. Called by a ticker thread and before each request."""
        with self.lock:
            now = self._clock()
            for op in list(self.ops.values()):
                if op.kind == "abort" or op.status == "Canceled":
                    continue
                if not op.nodes_applied and op.error is None and now >= op.nodes_at:
                    self._apply_nodes(op)
                if op.status != "InProgress" or now < op.start + op.duration:
                    continue
                waits = op.error is None and op.nodes_at <= op.start + op.duration
                if waits and not op.nodes_applied:
                    self._apply_nodes(op)
                syncing = waits and op.nodes_done is not None and not op.nodes_done.is_set()
                if syncing and now < op.start + op.duration + NODE_SYNC_GRACE_S:
                    continue  # the Kubernetes side is still working: do not claim Succeeded yet
                self._finish(op)

    def _apply_nodes(self, op: Operation) -> None:
        op.nodes_applied = True
        pool = self.pools.get(op.pool)
        if pool is None:
            return
        if op.kind == "delete":
            pool.vm_indexes = []
            op.nodes_done = self._sync_nodes(pool.name, None)
            return
        # Scale down removes the highest instance ids (which VMs AKS picks is a guess); scale up takes fresh
        # ids (VMSS may reuse ids after a delete, but hands out new ones first: a guess too).
        while len(pool.vm_indexes) > op.target_count:
            pool.vm_indexes.pop()
        while len(pool.vm_indexes) < op.target_count:
            pool.vm_indexes.append(pool.next_index)
            pool.next_index += 1
        op.nodes_done = self._sync_nodes(pool.name, self._pool_nodes(pool))

    def _finish(self, op: Operation) -> None:
        op.end_wall = time.time()
        pool = self.pools.get(op.pool)
        if op.error is not None:
            op.status = "Failed"
            if pool is not None:
                pool.provisioning_state = "Failed"
                pool.error = op.error
            return
        op.status = "Succeeded"
        if pool is None:
            return
        if op.kind == "delete":
            del self.pools[op.pool]
        else:
            pool.provisioning_state = "Succeeded"

    # -- nodes

    def _pool_nodes(self, pool: Pool) -> PoolNodes:
        return PoolNodes(
            pool=pool.name,
            vm_size=pool.vm_size,
            mode=pool.mode,
            indexes=list(pool.vm_indexes),
            labels=dict(pool.props.get("nodeLabels") or {}),
            taints=list(pool.props.get("nodeTaints") or []),
            os_sku=str(pool.props.get("osSKU") or "Ubuntu"),
            spot=str(pool.props.get("scaleSetPriority", "")).lower() == "spot",
        )

    def _sync_nodes(self, pool: str, nodes: PoolNodes | None) -> threading.Event | None:
        if self.node_sync is None:
            return None
        return self.node_sync(pool, nodes)

    def node_name(self, pool: str, index: int) -> str:
        """aks-<pool>-<8 digits>-vmss<instance id>: the VMSS computer name, which AKS uses as the node name.

        The id is base-36, zero-padded to 6 characters (the documented VMSS computer-name scheme), lower-cased
        as Kubernetes node names are.
        """
        return f"aks-{pool}-{self.vmss_number}-vmss{_base36(index, 6)}"

    # -- the managed cluster

    def _network_profile(self) -> dict[str, Any]:
        common = {
            "networkPlugin": "azure",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "loadBalancerSku": "standard",
            "outboundType": "loadBalancer",
        }
        if self.pod_subnet:
            # Azure CNI with dynamic pod IP allocation: no podCidr, the pools' podSubnetID instead (field names from
            # the ManagedCluster/AgentPool models; values made up).
            return common
        # Typical values for an Azure CNI overlay cluster (guessed; nothing in kaitoctl reads them).
        return {**common, "networkPluginMode": "overlay", "podCidr": "10.244.0.0/16"}

    def cluster_json(self) -> dict[str, Any]:
        profiles = []
        for pool in self.pools.values():
            body = self.pool_json(pool)
            profiles.append({"name": pool.name, **body["properties"]})
        return {
            "id": self.cluster_id,
            "location": self.location,
            "name": self.cluster,
            "type": "Microsoft.ContainerService/ManagedClusters",
            "sku": {"name": "Base", "tier": "Free"},
            "identity": {
                "type": "SystemAssigned",
                "principalId": str(uuid.UUID(int=1)),
                "tenantId": self.tenant,
            },
            "properties": {
                # Agent-pool operations leave the cluster's own state alone here; whether AKS shows "Updating"
                # on
                # the cluster during a pool operation is not verified.
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
                "kubernetesVersion": self.kubernetes_version,
                "currentKubernetesVersion": self.kubernetes_version,
                "dnsPrefix": f"{self.cluster}-dns",
                "fqdn": self.fqdn,
                "azurePortalFQDN": self.fqdn.replace(".hcp.", ".portal.hcp."),
                "agentPoolProfiles": profiles,
                "nodeResourceGroup": self.node_resource_group,
                "enableRBAC": True,
                "supportPlan": "KubernetesOfficial",
                # Typical values for an Azure CNI overlay cluster (guessed; nothing in kaitoctl reads them).
                "networkProfile": self._network_profile(),
                "maxAgentPools": 100,
                "disableLocalAccounts": False,
            },
        }


def _usage_row(name: str, localized: str, current: int, limit: int) -> dict[str, Any]:
    return {
        "name": {"value": name, "localizedValue": localized},
        "currentValue": current,
        "limit": limit,
        "unit": "Count",
    }


def _base36(n: int, width: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            break
    return out.rjust(width, "0")


def parse_taint(taint: str) -> dict[str, str] | None:
    """`key=value:Effect` (or `key:Effect`) -> a Kubernetes taint; None when malformed."""
    key_value, sep, effect = taint.rpartition(":")
    if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not key_value:
        return None
    key, _, value = key_value.partition("=")
    if not key:
        return None
    out = {"key": key, "effect": effect}
    if value:
        out["value"] = value
    return out
