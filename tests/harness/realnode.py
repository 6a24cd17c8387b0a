"""A real kubelet node beside the kwok nodes: kaitoctl's rendered workloads run in real containers.

    node = RealNode.add(cluster, vm_size="Standard_NC24ads_A100_v4", gpus=1)   # hack/local-cluster add-node real
    node.name; node.registry; node.data_dir; node.publish_data(name, bytes)
    RealNode.remove(cluster)                                                   # also run by cluster.down()

Pieces (binaries from hack/build-node, cached by version):
  * containerd 2.3 (CRI) + Debian runc + Debian CNI plugins (bridge, host-local, loopback, portmap) on a bridge
    this harness creates (BRIDGE, SUBNET); pods reach only addresses on that bridge (no masquerade, no default
    route in pods);
  * kubelet v1.36.3 (cgroupfs, `failCgroupV1: false`: this VM has cgroup v1), labelled and tainted like an AKS
    GPU node of the SKU (tests/harness/nodes.py, the same labels as the kwok GPU nodes);
  * fakegpu, a kubelet device plugin advertising N nvidia.com/gpu devices;
  * two registries (Debian docker-registry, TLS from the real node's CA): a public one, anonymous, that serves
    mcr.microsoft.com, ghcr.io, docker.io and registry.k8s.io references through containerd's hosts.toml (no
    image is renamed), and a private one with htpasswd auth, PRIVATE_REGISTRY (adapters, dataset images);
  * a DNS server (dnslib) at the bridge address, the kubelet's clusterDNS, answering the registry names and
    DATA_HOST with addresses on the bridge, so pods reach them by the names kaitoctl renders and users give;
  * an HTTPS file server at DATA_HOST for `tune --input-url`;
  * the stand-in images (tests/harness/images.py), built from host files and pushed once (cached by content).

One real node per machine: the kubelet's device-plugin socket path is fixed (/var/lib/kubelet/device-plugins).
Everything it starts runs in the cgroup CGROUP; remove() kills that cgroup, unmounts everything under its
directories, deletes the bridge (the veths go with the pod network namespaces), and restores ip_forward.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.harness.nodes import node_manifest

if TYPE_CHECKING:
    from tests.harness.cluster import LocalCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-node"
# Disk-backed (overlayfs upper dirs, volumes) and machine-wide: one real node per machine.
VAR_ROOT = Path(os.environ.get("KAITOCTL_REALNODE_ROOT", "/var/lib/kaitoctl-realnode"))
RUN_ROOT = Path("/run/kaitoctl-realnode")
OWNER_FILE = RUN_ROOT / "owner.json"
CGROUP = "kaitoctl-realnode"
BRIDGE = "kaitoctl0"
SUBNET = ipaddress.ip_network("10.89.0.0/24")
GATEWAY = "10.89.0.1"
KUBELET_PORT = 10250
# The names pods resolve to the bridge address (DNS below) and containerd maps to the public registry.
PUBLIC_REGISTRY_HOSTS = ("mcr.microsoft.com", "ghcr.io", "docker.io", "registry-1.docker.io", "registry.k8s.io")
# Names like a user's (an ACR registry, a blob container), so kaitoctl's checks of user input apply unchanged;
# only this node's DNS answers them, with addresses on its bridge: nothing leaves the machine.
PRIVATE_IP = "10.89.0.2"
PRIVATE_REGISTRY = "kaitoe2e.azurecr.io"
DATA_IP = "10.89.0.3"
DATA_HOST = "kaitoe2e.blob.core.windows.net"
DNS_RECORDS = {**dict.fromkeys(PUBLIC_REGISTRY_HOSTS, GATEWAY), PRIVATE_REGISTRY: PRIVATE_IP, DATA_HOST: DATA_IP}
DNS_ZONE = tuple(DNS_RECORDS)
POD_RANGE_START = "10.89.0.10"
REGISTRY_USER = "kaito-e2e"
DEVICE_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "devices", "blkio", "systemd")
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10.2"


class RealNodeUnavailable(RuntimeError):
    """The machine cannot run the real node (not root, a kernel feature refused, binaries not built)."""


class RealNodeError(RuntimeError):
    pass


@dataclass
class Owner:
    """Who holds the machine's real node; saved as OWNER_FILE."""

    cluster_state: str
    node: str
    work: str
    ip_forward_before: str
    created_kubelet_dir: bool
    created_run_containerd: bool
    started: float


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def find_node_bin_dir(*, build: bool = False) -> Path:
    r = subprocess.run([str(BUILD_SCRIPT), *([] if build else ["--print"])], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        raise RealNodeUnavailable(f"real node binaries not built: run hack/build-node ({r.stderr.strip()})")
    return Path(r.stdout.strip().splitlines()[-1])


def check_machine() -> None:
    """Refuse clearly, and say what was refused, when this machine cannot run containers."""
    if os.geteuid() != 0:
        raise RealNodeUnavailable("the real node needs root (containerd, runc, mounts, a bridge)")
    fs = Path("/proc/filesystems").read_text()
    if "overlay" not in fs:
        raise RealNodeUnavailable("the kernel has no overlay filesystem (/proc/filesystems): containerd's "
                                  "overlayfs snapshotter cannot run")
    for c in ("cpu", "memory", "pids", "cpuset", "freezer"):
        if not Path(f"/sys/fs/cgroup/{c}").is_dir():
            raise RealNodeUnavailable(f"no cgroup v1 hierarchy /sys/fs/cgroup/{c} (the harness supports the "
                                      "cgroup v1 hybrid layout of these machines)")


# --- cgroups ------------------------------------------------------------------------------------------


def _cgroup_dirs(sub: str = "") -> list[Path]:
    out = []
    for c in CGROUP_CONTROLLERS:
        base = Path("/sys/fs/cgroup") / c
        if base.is_dir():
            out.append(base / CGROUP / sub if sub else base / CGROUP)
    return out


def _make_cgroups() -> None:
    for d in (*_cgroup_dirs(), *_cgroup_dirs("system")):
        d.mkdir(exist_ok=True)
        if d.parts[3] == "cpuset":
            # A v1 cpuset cgroup accepts tasks only once it has cpus and mems.
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not (d / f).read_text().strip():
                    (d / f).write_text((d.parent / f).read_text())


def _join_cgroup() -> None:
    """preexec_fn: put the daemon (and everything it forks) in CGROUP/system."""
    pid = str(os.getpid())
    for d in _cgroup_dirs("system"):
        with contextlib.suppress(OSError):
            (d / "cgroup.procs").write_text(pid)


def _cgroup_pids() -> set[int]:
    pids: set[int] = set()
    root = Path("/sys/fs/cgroup/pids") / CGROUP
    if root.is_dir():
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def _kill_cgroup(timeout: float = 20.0) -> None:
    """SIGKILL every process in CGROUP (frozen first, so nothing forks in between), then remove the cgroups."""
    freezer = Path("/sys/fs/cgroup/freezer") / CGROUP
    deadline = time.monotonic() + timeout
    while (pids := _cgroup_pids()) and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            (freezer / "freezer.state").write_text("FROZEN")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            (freezer / "freezer.state").write_text("THAWED")
        time.sleep(0.2)
    if _cgroup_pids():
        raise RealNodeError(f"processes survived in cgroup {CGROUP}: {sorted(_cgroup_pids())}")
    for top in _cgroup_dirs():
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


# --- mounts and network -------------------------------------------------------------------------------


def _mounts_under(*roots: Path) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == str(r) or point.startswith(str(r) + "/") for r in roots):
            out.append(point)
    return out


def _unmount_all(*roots: Path) -> None:
    for _ in range(5):
        points = _mounts_under(*roots)
        if not points:
            return
        for p in sorted(points, key=len, reverse=True):
            _run("umount", "-l", p, check=False)
    left = _mounts_under(*roots)
    if left:
        raise RealNodeError(f"mounts left behind: {left}")


def _bridge_up() -> None:
    if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    addrs = _run("ip", "-4", "-o", "addr", "show", "dev", BRIDGE).stdout
    for ip in (GATEWAY, PRIVATE_IP, DATA_IP):
        if f" {ip}/" not in addrs:
            _run("ip", "addr", "add", f"{ip}/{SUBNET.prefixlen}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")


def _bridge_down() -> None:
    # Veths are deleted with their network namespaces (all pod processes are dead, netns mounts gone).
    for line in _run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout.splitlines():
        veth = line.split(":")[1].strip().split("@")[0]
        _run("ip", "link", "del", veth, check=False)
    _run("ip", "link", "del", BRIDGE, check=False)


def _veths() -> list[str]:
    return [line.split(":")[1].strip().split("@")[0]
            for line in _run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout.splitlines()]


# --- the node -----------------------------------------------------------------------------------------


@dataclass
class RealNode:
    cluster: LocalCluster
    name: str
    work: Path
    bin_dir: Path

    # Paths inside the per-node work dir.
    @property
    def ca(self) -> Path:
        return VAR_ROOT / "pki" / "ca.crt"

    @property
    def data_dir(self) -> Path:
        """Files here are served at https://DATA_HOST/<name> (tune --input-url)."""
        return self.work / "data"

    @property
    def registry_password(self) -> str:
        return (self.work / "registry" / "password").read_text().strip()

    def docker_config(self) -> dict[str, Any]:
        """A .dockerconfigjson for the private registry (push and pull secrets)."""
        import base64

        token = base64.b64encode(f"{REGISTRY_USER}:{self.registry_password}".encode()).decode()
        return {"auths": {PRIVATE_REGISTRY: {"auth": token}}}

    def publish_data(self, name: str, content: bytes) -> str:
        """Serve content over HTTPS; returns the URL a pod (and kaitoctl's URL checks) accepts."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / name).write_bytes(content)
        return f"https://{DATA_HOST}/{name}"

    # -- lifecycle --

    @classmethod
    def current(cls, cluster: LocalCluster) -> RealNode | None:
        owner = _owner()
        if owner is None or owner.cluster_state != str(cluster.state_dir):
            return None
        return cls(cluster, owner.node, Path(owner.work), find_node_bin_dir())

    @classmethod
    def add(cls, cluster: LocalCluster, *, vm_size: str = "Standard_NC24ads_A100_v4", gpus: int | None = None,
            name: str | None = None, pool: str = "gpu", timeout: float = 120.0) -> RealNode:
        from tests.harness import images

        check_machine()
        owner = _owner()
        if owner is not None:
            if owner.cluster_state == str(cluster.state_dir) and _node_alive(owner):
                raise RealNodeError(f"this cluster already has the real node {owner.node}")
            if Path(owner.cluster_state).exists() and _node_alive(owner):
                raise RealNodeError(f"the machine's real node {owner.node} belongs to the cluster at "
                                    f"{owner.cluster_state}; remove it first (one real node per machine)")
            teardown()  # leftovers of a crashed run
        bin_dir = find_node_bin_dir(build=True)
        manifest = node_manifest(name or f"aks-{pool}-{secrets.randbelow(10**8):08d}-vmss000000", vm_size=vm_size,
                                 pool=pool, gpus=gpus, gfd_labels=True)
        labels = dict(manifest["metadata"]["labels"])
        if not labels.get("kubernetes.azure.com/accelerator"):
            raise ValueError(f"{vm_size} is not a GPU size in presets.yaml; pass gpus=")
        gpu_count = int(manifest["status"]["capacity"]["nvidia.com/gpu"])
        node_name = str(manifest["metadata"]["name"])
        labels.pop("type", None)  # kwok's marker; this node is real
        labels.pop("kubernetes.io/hostname", None)  # the kubelet sets it
        labels["kaitoctl.io/real-node"] = "true"

        t0 = time.monotonic()
        work = VAR_ROOT / "node"
        shutil.rmtree(work, ignore_errors=True)
        for d in ("logs", "pids", "conf", "cni", "certs.d", "kubelet", "pod-logs", "data", "registry", "volumes"):
            (work / d).mkdir(parents=True, exist_ok=True)
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        ip_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        created_kubelet_dir = not Path("/var/lib/kubelet").exists()
        # containerd's shims put their sockets under /run/containerd/s whatever the state dir is.
        created_run_containerd = not Path("/run/containerd").exists()
        _write_owner(Owner(str(cluster.state_dir), node_name, str(work), ip_forward, created_kubelet_dir,
                           created_run_containerd, time.time()))
        node = cls(cluster, node_name, work, bin_dir)
        try:
            node._start(labels=labels, gpus=gpu_count, taints=manifest["spec"]["taints"], images=images,
                        deadline=t0 + timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                (work / "logs" / "failed").write_text("start failed\n")
            raise
        (work / "up-seconds").write_text(f"{time.monotonic() - t0:.1f}\n")
        return node

    def _start(self, *, labels: dict[str, str], gpus: int, taints: list[dict[str, str]], images: Any,
               deadline: float) -> None:
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        _bridge_up()
        _make_cgroups()
        _ensure_pki()
        self._write_registry_config()
        self._spawn("dns", [sys.executable, "-m", "tests.harness.realnode_services", "dns", "--address", GATEWAY,
                            *[f"--record={n}={ip}" for n, ip in DNS_RECORDS.items()]])
        self._spawn("data", [sys.executable, "-m", "tests.harness.realnode_services", "https", "--address",
                             DATA_IP, "--port", "443", "--dir", str(self.data_dir),
                             "--cert", str(VAR_ROOT / "pki" / "server.crt"),
                             "--key", str(VAR_ROOT / "pki" / "server.key")])
        self._spawn("registry-public", ["/usr/bin/docker-registry", "serve", str(self.work / "conf" / "public.yml")])
        self._spawn("registry-private", ["/usr/bin/docker-registry", "serve",
                                         str(self.work / "conf" / "private.yml")])
        self._write_containerd_config()
        self._spawn("containerd", [str(self.bin_dir / "containerd"), "--config",
                                   str(self.work / "conf" / "containerd.toml")])
        _wait(lambda: (RUN_ROOT / "containerd.sock").exists(), deadline, "containerd socket", self)
        _wait(lambda: _tcp_open(GATEWAY, 443) and _tcp_open(PRIVATE_IP, 443), deadline,
              "the registries", self)
        # Images go in while the kubelet starts (the sandbox image is needed only for the first pod).
        images.publish_all(self)
        self._write_kubelet_config(labels=labels, taints=taints)
        self._spawn("kubelet", [str(self.bin_dir / "kubelet"), f"--config={self.work / 'conf' / 'kubelet.yaml'}",
                                f"--root-dir={self.work / 'kubelet'}",
                                f"--kubeconfig={self.cluster.kubeconfig}", f"--hostname-override={self.name}",
                                f"--node-ip={GATEWAY}", "--node-labels=" + ",".join(f"{k}={v}" for k, v in
                                                                                    sorted(labels.items())),
                                "--v=1"])
        self._spawn("fakegpu", [str(self.bin_dir / "fakegpu"), f"--count={gpus}", f"--node={self.name}",
                                f"--dir={DEVICE_PLUGIN_DIR}"])
        core = self.cluster.core()

        def ready() -> bool:
            n = core.read_node(self.name)
            conds = {c.type: c.status for c in (n.status.conditions or [])}
            alloc = (n.status.allocatable or {}).get("nvidia.com/gpu", "0")
            return conds.get("Ready") == "True" and str(alloc) == str(gpus)

        _wait(ready, deadline, f"node {self.name} Ready with {gpus} nvidia.com/gpu", self)
        self._create_volumes()

    def _create_volumes(self, count: int = 4, size: str = "10Gi") -> None:
        """Real volumes for PVCs on this node: local directories as PVs of the default StorageClass, which
        the real binder (kube-scheduler's VolumeBinding, kcm's PV controller) matches to a claim before any
        provisioning is tried (static provisioning), so the kubelet mounts a real directory."""
        from kubernetes.client.exceptions import ApiException

        core = self.cluster.core()
        for i in range(count):
            path = self.work / "volumes" / f"pv{i}"
            path.mkdir(parents=True, exist_ok=True)
            pv = {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": f"{self.name}-pv{i}", "labels": {"kaitoctl.io/real-node": "true"}},
                "spec": {
                    "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "default",
                    "local": {"path": str(path)},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [self.name]}]}]}},
                },
            }
            try:
                core.create_persistent_volume(pv)
            except ApiException as e:
                if e.status != 409:
                    raise

    def _spawn(self, comp: str, argv: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env["PATH"] = f"{self.bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"
        env["PYTHONPATH"] = str(REPO_ROOT)
        if comp.startswith("registry"):
            env["OTEL_TRACES_EXPORTER"] = "none"
        log = (self.work / "logs" / f"{comp}.log").open("ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.work,
                                env=env, start_new_session=True, preexec_fn=_join_cgroup)
        log.close()
        (self.work / "pids" / f"{comp}.pid").write_text(f"{proc.pid}\n")

    def log_tail(self, comp: str, lines: int = 30) -> str:
        try:
            return "\n".join((self.work / "logs" / f"{comp}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- configuration --

    def _write_registry_config(self) -> None:
        reg = self.work / "registry"
        password = secrets.token_urlsafe(18)
        (reg / "password").write_text(password + "\n")
        (reg / "password").chmod(0o600)
        _run("htpasswd", "-Bbc", str(reg / "htpasswd"), REGISTRY_USER, password)
        pki = VAR_ROOT / "pki"
        for kind, port, storage in (("public", 443, VAR_ROOT / "registry-public"),
                                    ("private", 443, self.work / "registry" / "private")):
            conf: dict[str, Any] = {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                # The public store outlives the node: the stand-in images are pushed once (cached by content).
                "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
                "http": {"addr": f"{GATEWAY if kind == 'public' else PRIVATE_IP}:{port}", "tls": {"certificate": str(pki / "server.crt"),
                                                             "key": str(pki / "server.key")}},
            }
            if kind == "private":
                conf["auth"] = {"htpasswd": {"realm": "kaito-e2e", "path": str(reg / "htpasswd")}}
            (self.work / "conf" / f"{kind}.yml").write_text(yaml.safe_dump(conf))

    def _write_containerd_config(self) -> None:
        certs = self.work / "certs.d"
        ca = VAR_ROOT / "pki" / "ca.crt"
        for host in PUBLIC_REGISTRY_HOSTS:
            (certs / host).mkdir(parents=True, exist_ok=True)
            # containerd's registry host configuration (docs/hosts.md): the name stays, the bytes come from here.
            (certs / host / "hosts.toml").write_text(
                f'server = "https://{host}"\n\n[host."https://{GATEWAY}"]\n'
                f'  capabilities = ["pull", "resolve"]\n  ca = "{ca}"\n')
        (certs / PRIVATE_REGISTRY).mkdir(parents=True, exist_ok=True)
        (certs / PRIVATE_REGISTRY / "hosts.toml").write_text(
            f'server = "https://{PRIVATE_REGISTRY}"\n\n[host."https://{PRIVATE_IP}"]\n'
            f'  capabilities = ["pull", "resolve"]\n  ca = "{ca}"\n')
        cni_conf = self.work / "cni" / "conf"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-kaitoctl.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": "kaitoctl-realnode",
            "plugins": [
                # No ipMasq and no default route: pods reach only this bridge's addresses.
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": str(SUBNET), "gateway": GATEWAY,
                                                            "rangeStart": POD_RANGE_START}]],
                          "dataDir": str(self.work / "cni" / "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }, indent=1))
        root = self.work / "containerd"
        conf = f"""version = 3
root = "{root}"
state = "{RUN_ROOT / 'containerd-state'}"
[grpc]
  address = "{RUN_ROOT / 'containerd.sock'}"
[ttrpc]
  address = "{RUN_ROOT / 'containerd.sock.ttrpc'}"
[debug]
  address = ""
[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "{root / 'opt'}"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "{SANDBOX_IMAGE}"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "{certs}"
  [plugins.'io.containerd.cri.v1.runtime']
    netns_mounts_under_state_dir = true
    # This sandbox drops CAP_SYS_RESOURCE even for root (CapEff lacks bit 24): lowering oom_score_adj is
    # refused (EACCES), and runc fails to start a pause container with the kubelet's -998. containerd's own
    # switch for such hosts keeps every container's score at or above containerd's (docs/cri/config.md).
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          Root = "{RUN_ROOT / 'runc'}"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = "{cni_conf}"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
"""
        (self.work / "conf" / "containerd.toml").write_text(conf)

    def _write_kubelet_config(self, *, labels: dict[str, str], taints: list[dict[str, str]]) -> None:
        pki = self.cluster.pki
        conf = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This VM has cgroup v1; Kubernetes 1.35+ refuses it unless told (KEP-5573).
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP}",
            "containerRuntimeEndpoint": f"unix://{RUN_ROOT / 'containerd.sock'}",
            "address": GATEWAY,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 0,
            # The apiserver reaches the kubelet (logs, port-forward) with its kubelet client certificate.
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(pki / "ca.crt")}},
            "authorization": {"mode": "AlwaysAllow"},
            "tlsCertFile": str(pki / "serving.crt"),
            "tlsPrivateKeyFile": str(pki / "serving.key"),
            "clusterDNS": [GATEWAY],
            "clusterDomain": "cluster.local",
            "resolvConf": str(self.work / "conf" / "resolv.conf"),
            "registerWithTaints": taints,
            "podLogsDir": str(self.work / "pod-logs"),
            "failSwapOn": False,
            "protectKernelDefaults": False,
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "nodeStatusUpdateFrequency": "4s",
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
            "runtimeRequestTimeout": "2m",
            "localStorageCapacityIsolation": True,
            "featureGates": {},
            "staticPodPath": "",
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
        }
        conf.pop("featureGates")
        conf.pop("staticPodPath")
        (self.work / "conf" / "kubelet.yaml").write_text(yaml.safe_dump(conf))
        (self.work / "conf" / "resolv.conf").write_text(f"nameserver {GATEWAY}\n")

    def status(self) -> dict[str, Any]:
        return {"node": self.name, "work": str(self.work), "pids": sorted(_cgroup_pids()), "veths": _veths(),
                "mounts": len(_mounts_under(VAR_ROOT / "node", RUN_ROOT))}


def _tcp_open(host: str, port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _wait(pred: Any, deadline: float, what: str, node: RealNode) -> None:
    from tests.harness.cluster import wait_for

    try:
        wait_for(pred, timeout=max(1.0, deadline - time.monotonic()), interval=0.25, what=what)
    except TimeoutError as e:
        tails = "\n".join(f"--- {c}\n{node.log_tail(c, 15)}" for c in ("containerd", "kubelet", "fakegpu"))
        raise RealNodeError(f"{e}\n{tails}") from None


def _owner() -> Owner | None:
    try:
        return Owner(**json.loads(OWNER_FILE.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_owner(owner: Owner) -> None:
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(json.dumps(asdict(owner)))


def _node_alive(owner: Owner) -> bool:
    try:
        pid = int((Path(owner.work) / "pids" / "kubelet.pid").read_text())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def _ensure_pki() -> None:
    """The real node's CA (machine-wide and kept: the stand-in tool images trust it, so they are built once)
    and a server certificate for the registries and the data server."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki = VAR_ROOT / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def pem_key(k: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        path.chmod(0o600)

    if not (pki / "ca.crt").exists() or not (pki / "ca.key").exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kaitoctl-realnode-ca")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now)
              .not_valid_after(now + dt.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, encipher_only=False,
                                           decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        pem_key(ca_key, pki / "ca.key")
        (pki / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    names = "\n".join(sorted(DNS_ZONE))
    if (pki / "server.crt").exists() and (pki / "server.names").exists() and (pki / "server.names").read_text() == names:
        return
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key_loaded = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key_loaded, ec.EllipticCurvePrivateKey)
    k = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in (*DNS_ZONE, "localhost")]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in (GATEWAY, PRIVATE_IP, DATA_IP, "127.0.0.1")]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kaitoctl-realnode-registry")]))
            .issuer_name(ca_cert.subject).public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3000))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key_loaded, hashes.SHA256()))
    pem_key(k, pki / "server.key")
    (pki / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (pki / "server.names").write_text(names)


def teardown() -> None:
    """Stop the machine's real node (whoever owns it) and leave nothing behind."""
    owner = _owner()
    work = Path(owner.work) if owner else VAR_ROOT / "node"
    # The kubelet first (gracefully), so it does not restart what is being killed.
    with contextlib.suppress(OSError, ValueError):
        pid = int((work / "pids" / "kubelet.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
    _kill_cgroup()
    _unmount_all(work, RUN_ROOT)
    _bridge_down()
    # Sockets and checkpoints in the kubelet's fixed device-plugin directory; the log symlinks it made.
    for p in DEVICE_PLUGIN_DIR.glob("*") if DEVICE_PLUGIN_DIR.is_dir() else []:
        with contextlib.suppress(OSError):
            p.unlink()
    if owner and owner.created_kubelet_dir:
        shutil.rmtree("/var/lib/kubelet", ignore_errors=True)
    if owner and owner.created_run_containerd:
        shutil.rmtree("/run/containerd", ignore_errors=True)
    containers_log = Path("/var/log/containers")
    if containers_log.is_dir():
        for link in containers_log.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(str(work)):
                    link.unlink()
        with contextlib.suppress(OSError):
            containers_log.rmdir()
    if owner:
        with contextlib.suppress(OSError):
            Path("/proc/sys/net/ipv4/ip_forward").write_text(owner.ip_forward_before + "\n")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(RUN_ROOT, ignore_errors=True)


def remove(cluster: LocalCluster) -> bool:
    """Tear down the real node if this cluster owns it; True if there was one."""
    owner = _owner()
    if owner is None or owner.cluster_state != str(cluster.state_dir):
        return False
    with contextlib.suppress(Exception):
        cluster.delete_node(owner.node)
    with contextlib.suppress(Exception):
        cluster.core().delete_collection_persistent_volume(label_selector="kaitoctl.io/real-node=true")
    # The node's logs go with the cluster's (kept when a test failed).
    with contextlib.suppress(OSError):
        shutil.copytree(Path(owner.work) / "logs", cluster.state_dir / "logs" / "realnode", dirs_exist_ok=True)
    teardown()
    return True
