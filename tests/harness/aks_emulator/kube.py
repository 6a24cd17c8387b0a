"""The emulator's effects on a local Kubernetes cluster: AKS-shaped kwok nodes per pool, and the GPU device
plugin.

- A pool's nodes are built by tests/harness/nodes.py `node_manifest()` (one SKU table for the whole test
harness)
  with the pool's nodeLabels and nodeTaints. GPU nodes start WITHOUT `nvidia.com/gpu` capacity: AKS installs
  the NVIDIA driver but not the device plugin (MicrosoftDocs/azure-aks-docs articles/aks/gpu-cluster.md), unless `device_plugin_preinstalled`.
- Device plugin simulation: when a Running pod owned by a DaemonSet, with a container image containing
  `k8s-device-plugin`, sits on a GPU node, the node's status gets `nvidia.com/gpu` = the SKU's GPU count in
  capacity and allocatable. That is what the real plugin causes through the kubelet. A watch plus a periodic
  re-list (every `resync_s`) keeps it right even if another writer (kwok's node stages) races the patch.
- All Kubernetes calls run on background threads; writes go through one worker so they happen in order.

Nodes carry the annotation `aks-emulator.kaitoctl.dev/managed: "true"` so the emulator only ever deletes its
own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness.aks_emulator import catalog
from tests.harness.aks_emulator.state import PoolNodes, parse_taint
from tests.harness.nodes import node_manifest

log = logging.getLogger(__name__)

MANAGED_ANNOTATION = "aks-emulator.kaitoctl.dev/managed"
GPU_RESOURCE = "nvidia.com/gpu"
DEVICE_PLUGIN_IMAGE_MARK = "k8s-device-plugin"


class KubeSide:
    def __init__(
        self,
        kubeconfig: Path,
        *,
        subscription: str,
        node_resource_group: str,
        location: str,
        node_name: Callable[[str, int], str],
        vmss_name: Callable[[str], str],
        device_plugin_preinstalled: bool = False,
        resync_s: float = 2.0,
    ) -> None:
        from kubernetes import client, config

        api_client: Any = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        # Keeps the emulator's requests apart from kaitoctl's in the API server's audit log.
        api_client.user_agent = "aks-emulator/1.0"
        # Any: the client's models are typed, but the emulator speaks plain dicts to it.
        self.core: Any = client.CoreV1Api(api_client)
        self.subscription = subscription
        self.node_rg = node_resource_group
        self.location = location
        self.node_name = node_name
        self.vmss_name = vmss_name
        self.device_plugin_preinstalled = device_plugin_preinstalled
        self.resync_s = resync_s
        self._jobs: queue.Queue[tuple[Callable[[], None], threading.Event] | None] = queue.Queue()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._work, name="aks-emulator-kube-writer", daemon=True)
        self._plugin = threading.Thread(
            target=self._watch_device_plugin, name="aks-emulator-device-plugin", daemon=True
        )
        self.errors: list[str] = []

    def start(self) -> None:
        self._writer.start()
        self._plugin.start()

    def stop(self, *, delete_nodes: bool = True, timeout: float = 30.0) -> None:
        if delete_nodes:
            self.submit(self._delete_all_managed).wait(timeout)
        self._stop.set()
        self._jobs.put(None)
        self._writer.join(timeout)
        # The watcher notices the stop flag at its next event or watch timeout (<= resync_s); it patches
        # nothing after that, so there is no need to wait for it.
        self._plugin.join(0.1)

    # -- the writer

    def submit(self, job: Callable[[], None]) -> threading.Event:
        done = threading.Event()
        self._jobs.put((job, done))
        return done

    def sync(self, pool: str, nodes: PoolNodes | None) -> threading.Event:
        """Make the cluster's nodes of `pool` match `nodes` (None: remove them all); the Event says done."""
        return self.submit(lambda: self._sync_pool(pool, nodes))

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, done = item
            try:
                job()
            except Exception as exc:  # keep serving: one failed write must not stop the emulator
                log.exception("aks-emulator: Kubernetes write failed")
                self.errors.append(repr(exc))
            finally:
                done.set()

    def _managed_nodes(self, pool: str | None = None) -> list[Any]:
        selector = f"kubernetes.azure.com/agentpool={pool}" if pool else "kubernetes.azure.com/agentpool"
        nodes = self.core.list_node(label_selector=selector).items
        return [n for n in nodes if (n.metadata.annotations or {}).get(MANAGED_ANNOTATION) == "true"]

    def _delete_all_managed(self) -> None:
        for node in self._managed_nodes():
            self._delete_node(node.metadata.name)

    def _delete_node(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.delete_node(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _sync_pool(self, pool: str, nodes: PoolNodes | None) -> None:
        from kubernetes.client.exceptions import ApiException

        existing = {n.metadata.name: n for n in self._managed_nodes(pool)}
        wanted: dict[str, dict[str, Any]] = {}
        if nodes is not None:
            for index in nodes.indexes:
                name = self.node_name(pool, index)
                wanted[name] = self.manifest(nodes, name, index)
        for name in existing:
            if name not in wanted:
                self._delete_node(name)
        for name, manifest in wanted.items():
            if name in existing:
                # Pool updates (labels, taints) reach existing nodes, as `az aks nodepool update` does.
                patch = {
                    "metadata": {"labels": manifest["metadata"]["labels"]},
                    "spec": {"taints": manifest["spec"]["taints"]},
                }
                self.core.patch_node(name, patch)
                continue
            try:
                self.core.create_node(manifest)
            except ApiException as exc:
                if exc.status != 409:
                    raise

    def manifest(self, nodes: PoolNodes, name: str, index: int) -> dict[str, Any]:
        size = catalog.lookup(nodes.vm_size)
        labels = {
            "kubernetes.azure.com/os-sku": nodes.os_sku,
            "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202611.01.0",
            "kubernetes.azure.com/nodepool-type": "VirtualMachineScaleSets",
            "topology.kubernetes.io/region": self.location,
            "topology.kubernetes.io/zone": "0",  # AKS's value for a node without availability zones
        }
        taints = [t for t in (parse_taint(s) for s in nodes.taints) if t is not None]
        if nodes.spot:
            # A Spot pool's nodes carry the label kubernetes.azure.com/scalesetpriority=spot and the taint
            # kubernetes.azure.com/scalesetpriority=spot:NoSchedule (learn.microsoft.com/azure/aks/spot-node-pool,
            # "Limitations").
            labels["kubernetes.azure.com/scalesetpriority"] = "spot"
            taints.append({"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"})
        labels.update(nodes.labels)
        manifest = node_manifest(
            name,
            vm_size=nodes.vm_size,
            pool=nodes.pool,
            cpu=str(size.vcpus) if size else None,
            memory=f"{size.memory_gib}Gi" if size else None,
            labels=labels,
            # Only the pool's own taints: AKS does not taint GPU nodes by itself.
            taints=taints,
            device_plugin=self.device_plugin_preinstalled,
            mode=nodes.mode.lower(),
            cluster_node_rg=self.node_rg,
        )
        manifest["metadata"]["annotations"][MANAGED_ANNOTATION] = "true"
        # Real providerIDs carry the node resource group in lower case and the decimal VMSS instance id.
        manifest["spec"]["providerID"] = (
            f"azure:///subscriptions/{self.subscription}/resourceGroups/{self.node_rg.lower()}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{self.vmss_name(nodes.pool)}"
            f"/virtualMachines/{index}"
        )
        return manifest

    # -- device plugin

    @staticmethod
    def _is_device_plugin_pod(pod: Any) -> bool:
        owners = pod.metadata.owner_references or []
        if not any(o.kind == "DaemonSet" for o in owners):
            return False
        containers = list(pod.spec.containers or [])
        return any(DEVICE_PLUGIN_IMAGE_MARK in (c.image or "") for c in containers)

    def _watch_device_plugin(self) -> None:
        from kubernetes import watch

        while not self._stop.is_set():
            try:
                self._reconcile_gpus()
                w: Any = watch.Watch()  # type: ignore[no-untyped-call]
                for event in w.stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector="status.phase=Running",
                    timeout_seconds=max(1, int(self.resync_s)),
                ):
                    if self._stop.is_set():
                        w.stop()
                        break
                    pod = event["object"]
                    if event["type"] != "DELETED" and self._is_device_plugin_pod(pod) and pod.spec.node_name:
                        self._advertise_gpus(pod.spec.node_name)
            except Exception as exc:  # the API server may be restarting; try again shortly
                if not self._stop.is_set():
                    log.debug("aks-emulator: device plugin watch: %r", exc)
                    self._stop.wait(0.5)

    def _reconcile_gpus(self) -> None:
        pods = self.core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
        for pod in pods:
            if self._is_device_plugin_pod(pod) and pod.spec.node_name:
                self._advertise_gpus(pod.spec.node_name)

    def _advertise_gpus(self, node_name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        if self._stop.is_set():
            return
        try:
            node = self.core.read_node(node_name)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        labels = node.metadata.labels or {}
        size = catalog.lookup(labels.get("node.kubernetes.io/instance-type", ""))
        if size is None or not size.gpus or labels.get("kubernetes.azure.com/accelerator") != "nvidia":
            return
        capacity = (node.status.capacity or {}) if node.status else {}
        allocatable = (node.status.allocatable or {}) if node.status else {}
        want = str(size.gpus)
        if capacity.get(GPU_RESOURCE) == want and allocatable.get(GPU_RESOURCE) == want:
            return
        self.core.patch_node_status(
            node_name, {"status": {"capacity": {GPU_RESOURCE: want}, "allocatable": {GPU_RESOURCE: want}}}
        )
