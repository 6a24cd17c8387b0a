"""Node objects shaped like the ones AKS creates, for kwok to play.

Shared by the local-cluster harness (tests create GPU and CPU nodes) and the ARM emulator (a pool that reaches
Succeeded gets nodes). SKU facts come from the repo's presets.yaml so there is one table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

GPU_TAINT = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}


@cache
def sku_table() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((REPO_ROOT / "presets.yaml").read_text())
    return {name.lower(): {"name": name, **facts} for name, facts in data["skus"].items()}


def sku_facts(vm_size: str) -> dict[str, Any] | None:
    return sku_table().get(vm_size.lower())


def node_manifest(
    name: str,
    *,
    vm_size: str = "Standard_D4s_v5",
    pool: str = "nodepool1",
    gpus: int | None = None,
    gpu_memory_mib: int | None = None,
    gpu_product: str | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    gfd_labels: bool = False,
    device_plugin: bool = True,
    mode: str = "user",
    cluster_node_rg: str = "MC_rg-local_aks-local_eastus",
) -> dict[str, Any]:
    """A Node as AKS would register it (labels, taints, capacity), ready for kwok.

    GPU facts default from the SKU table when `vm_size` is a known GPU size. `device_plugin=False` leaves
    `nvidia.com/gpu` out of capacity, as on a fresh AKS GPU node before the NVIDIA device plugin runs.
    Deliberately sets no status.addresses: kwok fills in a Hostname that the API server can reach for
    port-forward and logs.
    """
    facts = sku_facts(vm_size) or {}
    if gpus is None:
        gpus = int(facts.get("gpus", 0))
    if gpu_memory_mib is None and facts.get("gpu_memory_gib"):
        gpu_memory_mib = int(facts["gpu_memory_gib"]) * 1024
    if gpu_product is None:
        gpu_product = facts.get("gfd_product")
    cpu = cpu or str(facts.get("vcpus", 4))
    memory = memory or f"{facts.get('memory_gib', 16)}Gi"

    node_labels = {
        "type": "kwok",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.azure.com/agentpool": pool,
        "agentpool": pool,
        "kubernetes.azure.com/mode": mode,
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/cluster": cluster_node_rg,
        "node.kubernetes.io/instance-type": vm_size,
        "beta.kubernetes.io/instance-type": vm_size,
        "topology.kubernetes.io/region": "eastus",
    }
    if gpus:
        node_labels["kubernetes.azure.com/accelerator"] = "nvidia"
        if gfd_labels:
            node_labels["nvidia.com/gpu.present"] = "true"
            node_labels["nvidia.com/gpu.count"] = str(gpus)
            if gpu_product:
                node_labels["nvidia.com/gpu.product"] = gpu_product
            if gpu_memory_mib:
                node_labels["nvidia.com/gpu.memory"] = str(gpu_memory_mib)
    node_labels.update(labels or {})

    capacity = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "1Ti"}
    if gpus and device_plugin:
        capacity["nvidia.com/gpu"] = str(gpus)

    if taints is None:
        taints = [dict(GPU_TAINT)] if gpus else []

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": node_labels,
        },
        "spec": {
            "taints": taints,
            "providerID": f"azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{cluster_node_rg}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/aks-{pool}-vmss/virtualMachines/{name}",
        },
        "status": {"capacity": dict(capacity), "allocatable": dict(capacity)},
    }
