"""`ArmEmulator`: the object tests hold. Wires the ARM state, TLS server, fake az and the Kubernetes side."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tests.harness.aks_emulator.certs import write_tls_files
from tests.harness.aks_emulator.credentials import write_azure_profile, write_fake_az
from tests.harness.aks_emulator.faults import Fault, FaultBook
from tests.harness.aks_emulator.server import EmulatorContext, Router, serve
from tests.harness.aks_emulator.state import DEFAULT_SUBSCRIPTION, DEFAULT_TENANT, ArmState, PoolNodes


class ArmEmulator:
    """A local ARM endpoint for one AKS cluster. Use as a context manager, or call start()/stop()."""

    def __init__(
        self,
        kubeconfig: Path | str | None = None,
        *,
        operation_seconds: float = 0.5,
        nodes_ready_after_s: float | None = None,
        subscription: str = DEFAULT_SUBSCRIPTION,
        tenant: str = DEFAULT_TENANT,
        resource_group: str = "rg-local",
        cluster: str = "aks-local",
        location: str = "eastus",
        kubernetes_version: str = "1.36.3",
        port: int = 0,
        state_dir: Path | str | None = None,
        quota_mode: Literal["async", "sync"] = "async",
        gpu_family_limit: int = 100,
        regional_cores_limit: int = 1000,
        device_plugin_preinstalled: bool = False,
        strict_tokens: bool = False,
        list_page_size: int = 10,
        retry_after: int = 0,
        latency_s: float = 0.01,
        cleanup_nodes: bool = True,
        node_side_effects: bool = True,
        pod_subnet: bool = False,
    ) -> None:
        self.kubeconfig = Path(kubeconfig) if kubeconfig else None
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="aks-emulator-"))
        self.port = port
        self.device_plugin_preinstalled = device_plugin_preinstalled
        self.cleanup_nodes = cleanup_nodes
        # False: the kubeconfig is only handed out by listClusterUserCredential; no nodes are made.
        self.node_side_effects = node_side_effects
        self.token = "emulator-" + secrets.token_urlsafe(24)
        self.ca_bundle = self.state_dir / "tls" / "ca.pem"
        self.state = ArmState(
            subscription=subscription,
            tenant=tenant,
            resource_group=resource_group,
            cluster=cluster,
            location=location,
            kubernetes_version=kubernetes_version,
            operation_seconds=operation_seconds,
            nodes_ready_after_s=nodes_ready_after_s,
            quota_mode=quota_mode,
            gpu_family_limit=gpu_family_limit,
            regional_cores_limit=regional_cores_limit,
            pod_subnet=pod_subnet,
        )
        self.faults = FaultBook()
        self.kube: Any = None  # KubeSide when a kubeconfig is given
        self._server: Any = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.ctx = EmulatorContext(
            state=self.state,
            faults=self.faults,
            base_url=lambda: self.endpoint,
            kubeconfig=self.kubeconfig,
            tokens={self.token},
            strict_tokens=strict_tokens,
            az_bin=self.state_dir / "bin" / "az",
            list_page_size=list_page_size,
            retry_after=retry_after,
            latency_s=latency_s,
            on_reset=self.reset,
        )

    # -- lifecycle

    def start(self) -> ArmEmulator:
        tls = write_tls_files(self.ca_bundle.parent)
        write_azure_profile(self.azure_config_dir, subscription=self.state.subscription, tenant=self.state.tenant)
        write_fake_az(self.bin_dir, token=self.token, config_dir=self.azure_config_dir)
        if self.kubeconfig is not None and self.node_side_effects:
            from tests.harness.aks_emulator.kube import KubeSide

            st = self.state
            self.kube = KubeSide(
                self.kubeconfig,
                subscription=st.subscription,
                node_resource_group=st.node_resource_group,
                location=st.location,
                node_name=st.node_name,
                vmss_name=lambda pool: f"aks-{pool}-{st.vmss_number}-vmss",
                device_plugin_preinstalled=self.device_plugin_preinstalled,
            )
            self.kube.start()
            # Stale nodes from an emulator that died without cleaning up would collide by name.
            self.kube.submit(self.kube._delete_all_managed).wait(30)
            self.state.node_sync = self._node_sync
            self.state.reset()  # creates nodepool1's node
        self._server, _ = serve(Router(self.ctx), host="127.0.0.1", port=self.port, cert=tls.cert_pem, key=tls.key_pem)
        self.port = int(self._server.server_address[1])
        self._ticker = threading.Thread(target=self._tick, name="aks-emulator-clock", daemon=True)
        self._ticker.start()
        self._write_env_file()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.kube is not None:
            self.kube.stop(delete_nodes=self.cleanup_nodes)
            self.kube = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> ArmEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _tick(self) -> None:
        # Operations move on by wall-clock even when nobody polls (nodes must appear on time).
        while not self._stopping.wait(0.02):
            self.state.advance()

    def _node_sync(self, pool: str, nodes: PoolNodes | None) -> threading.Event:
        return self.kube.sync(pool, nodes)  # type: ignore[no-any-return]

    # -- what clients need

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def bin_dir(self) -> Path:
        return self.state_dir / "bin"

    @property
    def azure_config_dir(self) -> Path:
        return self.state_dir / "azure"

    @property
    def subscription(self) -> str:
        return self.state.subscription

    @property
    def resource_group(self) -> str:
        return self.state.resource_group

    @property
    def cluster(self) -> str:
        return self.state.cluster

    @property
    def location(self) -> str:
        return self.state.location

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The variables that point kaitoctl (and the real azure-identity) at this emulator.

        With `base` (e.g. os.environ) the result is a full environment for subprocess; PATH gets the fake az's
        directory in front either way.
        """
        source = dict(os.environ if base is None else base)
        out = {
            "AZURE_SUBSCRIPTION_ID": self.subscription,
            "AZURE_RESOURCE_GROUP": self.resource_group,
            "KAITOCTL_AKS_CLUSTER": self.cluster,
            "KAITOCTL_ARM_ENDPOINT": self.endpoint,
            "KAITOCTL_ARM_CA_BUNDLE": str(self.ca_bundle),
            "KAITOCTL_PRICES_ENDPOINT": self.endpoint,
            "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
            "AZURE_CONFIG_DIR": str(self.azure_config_dir),
            "PATH": f"{self.bin_dir}{os.pathsep}{source.get('PATH', os.defpath)}",
        }
        return {**source, **out} if base is not None else out

    def export_lines(self) -> str:
        """`export` lines for a shell (PATH keeps the caller's $PATH)."""
        lines = [f"export {name}={shlex.quote(value)}" for name, value in self.env().items() if name != "PATH"]
        lines.append(f'export PATH={shlex.quote(str(self.bin_dir))}:"$PATH"')
        return "\n".join(lines) + "\n"

    def _write_env_file(self) -> None:
        (self.state_dir / "env.sh").write_text(self.export_lines())
        info = {"endpoint": self.endpoint, "port": self.port, "pid": os.getpid(), **self.env()}
        info.pop("PATH")
        (self.state_dir / "emulator.json").write_text(json.dumps(info, indent=2) + "\n")

    # -- what tests do

    def inject(self, fault: Fault) -> Fault:
        """Arm a fault (see faults.Fault's constructors). Returns it; `fault.fired` counts hits."""
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """The request log (not /_emulator calls), optionally filtered by method and a path regex."""
        with self.ctx.log_lock:
            entries = list(self.ctx.log)
        return [
            e
            for e in entries
            if (method is None or e["method"] == method.upper())
            and (path is None or re.search(path, e["path"], re.IGNORECASE))
        ]

    def pools(self) -> dict[str, dict[str, Any]]:
        """The agent pools as ARM would return them, keyed by name."""
        self.state.advance()
        with self.state.lock:
            return {name: self.state.pool_json(p) for name, p in self.state.pools.items()}

    def node_names(self, pool: str) -> list[str]:
        """The Kubernetes node names the pool's VMs have (or will have) under this emulator."""
        with self.state.lock:
            p = self.state.pools.get(pool)
            return [self.state.node_name(pool, i) for i in (p.vm_indexes if p else [])]

    def set_quota(self, family: str, limit: int, current: int | None = None) -> None:
        """vCPU limit of a quota family (`cores` is the regional total). `current`: vCPUs in use outside the
        emulated cluster (other VMs of the subscription); the cluster's pools are always added on top."""
        self.state.set_quota(family, limit, current)

    def set_logged_in(self, logged_in: bool) -> None:
        """Make the fake az behave as if `az login` was (not) done."""
        marker = self.bin_dir / "logged-out"
        if logged_in:
            marker.unlink(missing_ok=True)
        else:
            marker.touch()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no operation is running (e.g. before asserting on nodes after a poller was abandoned)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.state.advance()
            with self.state.lock:
                if not any(op.status == "InProgress" for op in self.state.ops.values()):
                    return
            time.sleep(0.02)
        raise TimeoutError("emulator operations still running")

    def reset(self) -> None:
        """Fresh state: only nodepool1, default quota, no faults, empty request log, az logged in."""
        self.faults.clear()
        with self.ctx.log_lock:
            self.ctx.log.clear()
        self.set_logged_in(True)
        self.state.reset()
