"""A real local Kubernetes control plane for e2e tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler (v1.36.3, built by hack/build-control-plane) and kwok (fake nodes and pod lifecycle), all as
local processes on 127.0.0.1. No container runtime; nothing touches ~/.kube/config.

Python API (pytest fixtures in tests/conftest.py wrap it: `cluster`, `namespace`, `kwok_nodes`)::

    cluster = LocalCluster.create("dev")          # or LocalCluster.attach(kubeconfig) for a running one
    cluster.up()                                  # start (idempotent) and wait until healthy; down() stops
    cluster.kubeconfig: Path                      # admin kubeconfig (system:masters)
    cluster.env() -> dict[str, str]               # KUBECONFIG, PATH (our kubectl first), NO_PROXY, ...
    cluster.api_client(user_agent=...) -> kubernetes.client.ApiClient

    cluster.add_gpu_node(name=None, *, vm_size="Standard_NC24ads_A100_v4", gpus=None, gfd_labels=True,
                         device_plugin=True, pool="gpu", labels=None, taints=None, wait=True) -> str
    cluster.add_cpu_node(name=None, *, vm_size="Standard_D4s_v5", pool="nodepool1", mode="user",
                         labels=None, taints=None, wait=True) -> str
    cluster.delete_node(name)

    cluster.set_pod_behavior(namespace, behavior, *, label=None, owner_kind=None, container=None,
                             delay_s=None, exit_code=None, then=None, message=None,
                             restart_interval_s=10.0) -> list[str]
    cluster.clear_pod_behaviors(namespace)
        behaviours (tests/harness/kwok_stages): ready, job-succeed, job-fail, job-running,
        image-pull-backoff, crash-loop, oom-killed, not-ready, container-creating.
        Default without a behaviour: pods Running and Ready; Job pods Succeeded after job_delay_s (1.5 s).
        `label=X` narrows a behaviour to pods labelled harness.kaitoctl.io/behavior=X; the namespace-wide
        behaviour then skips those pods. Set behaviours BEFORE the pods exist (kwok matches on pod events).

    cluster.forward_ports(namespace, target_port, *, address="127.0.0.1", pod_ports=None) -> str
        a ClusterPortForward: port-forwards to any pod of the namespace reach address:target_port.
    cluster.serve_logs(namespace, path_or_lines, *, container=None, previous=None) -> Path
        a ClusterLogs: `kubectl logs` / read_namespaced_pod_log of pods in the namespace read that file
        (CRI format; plain lines are converted). Append with append_log_lines(path, lines) for follow.
    cluster.cleanup_namespace(namespace)          # removes the above (the `namespace` fixture calls it)

    cluster.stop_apiserver(*, grace_s=1.0)        # the real process: SIGTERM, then SIGKILL; open watches end
    cluster.start_apiserver(*, timeout=60.0, reconnect_timeout=90.0)
        same flags, port and etcd; returns once kcm, the scheduler and kwok re-opened all their watches
    mark = cluster.audit_mark()
    cluster.requests(user_agent_prefix="kaitoctl", since=mark) -> list[AuditEvent]   # one per request
        audit events (level Metadata) of requests whose User-Agent starts with the prefix. Note: WebSocket
        requests of kubernetes.stream (port-forward, exec) carry no User-Agent at all.
    cluster.create_namespace(prefix) -> str; cluster.delete_namespace(name)
    cluster.node_factory() -> KwokNodes           # .gpu(...), .cpu(...), .delete_all()
    cluster.component_rss() -> dict[str, int]     # bytes per component process
    cluster.status() -> dict; cluster.log_tail(component) -> str   # logs: <state_dir>/logs/<component>.log

Helpers: wait_for(predicate, timeout=, what=), cri_log_line(text), append_log_lines(path, lines),
find_bin_dir(), reap_orphaned_sessions(). HarnessUnavailable: binaries not built; ClusterError: a component
failed.

CLI: hack/local-cluster (python -m tests.harness.cluster) up|down|env|status|add-node|delete-node|
set-pod-behavior|restart-apiserver.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.harness import kwok_stages
from tests.harness.nodes import node_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane"
DEFAULT_STATE_ROOT = REPO_ROOT / ".state" / "clusters"
# The harness's own requests must not look like kaitoctl's ("kaitoctl/...") in the audit log.
HARNESS_USER_AGENT = "e2e-harness/1.0"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
KWOK_CRDS = ("stages", "clusterportforwards", "clusterlogs", "portforwards", "logs")
KWOK_ENABLED_CRDS = "Stage,ClusterPortForward,ClusterLogs,PortForward,Logs"
KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"
SYSTEM_NODE = "aks-system-10000000-vmss000000"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

AuditEvent = dict[str, Any]
T = TypeVar("T")


class HarnessUnavailable(RuntimeError):
    """The control plane binaries are not built (or not buildable) here."""


class ClusterError(RuntimeError):
    pass


# --- small utilities ------------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], T | None], *, timeout: float, interval: float = 0.2,
             what: str = "condition") -> T:
    """Poll until predicate() returns something truthy; return it. Exceptions count as 'not yet'."""
    deadline = time.monotonic() + timeout
    last_err: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the API may be briefly unavailable; keep polling
            last_err = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}" +
                               (f" (last error: {last_err})" if last_err else ""))
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cri_log_line(text: str, *, stream: str = "stdout", ts: dt.datetime | None = None) -> str:
    """One line in the CRI log format kwok serves: `2016-10-06T00:00:00.000000000Z stdout F text`."""
    ts = ts or dt.datetime.now(dt.UTC)
    stamp = ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} {stream} F {text}"


_CRI_RE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (stdout|stderr) [FP] ")


def append_log_lines(path: Path, lines: Iterable[str]) -> None:
    """Append lines (converted to CRI format unless they already are) to a served log file."""
    with path.open("a") as f:
        for line in lines:
            f.write((line if _CRI_RE.match(line) else cri_log_line(line)) + "\n")


def _no_proxy_opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    # Registry proxies may be configured in the environment; never send loopback traffic there.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPSHandler(context=context))


def _http_ok(url: str, *, ca: Path | None = None, expect: str | None = None) -> bool:
    try:
        ctx = None
        if url.startswith("https"):
            if ca:
                ctx = ssl.create_default_context(cafile=str(ca))
            else:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        with _no_proxy_opener(ctx).open(url, timeout=2) as r:
            body = r.read().decode(errors="replace")
            return r.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def find_bin_dir() -> Path:
    """The cached control plane binaries (hack/build-control-plane --print), or HarnessUnavailable."""
    if not BUILD_SCRIPT.exists():
        raise HarnessUnavailable(f"{BUILD_SCRIPT} is missing")
    r = subprocess.run([str(BUILD_SCRIPT), "--print"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        hint = "run hack/build-control-plane (needs Go >= 1.26; about 5-8 min cold on 2 cores)"
        if not shutil.which("go"):
            hint = "Go is not installed, so they cannot be built here; " + hint
        raise HarnessUnavailable(f"control plane binaries not built ({r.stderr.strip()}); {hint}")
    return Path(r.stdout.strip().splitlines()[-1])


# --- PKI ------------------------------------------------------------------------------------------------


def _make_pki(pki: Path) -> None:
    """A CA, one serving cert for every component, one client cert per identity, an SA key pair.

    EC P-256 keys: generated in milliseconds, accepted by kube, Go and Python clients.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        path.chmod(0o600)

    def name(cn: str, org: str | None = None) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(attrs)

    ca_key = key()
    ca_name = name("kaitoctl-local-ca")
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (pki / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_key(ca_key, pki / "ca.key")

    def issue(stem: str, subject: x509.Name, *, server: bool) -> None:
        k = key()
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if server:
            dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local"]
            ips = ["127.0.0.1", "::1", "10.96.0.1"]
            sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        else:
            usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        (pki / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(k, pki / f"{stem}.key")

    issue("serving", name("kaitoctl-local-apiserver"), server=True)
    # Distinct users so the audit policy can tell components apart; all are cluster admins, like kwokctl's.
    for stem, cn in (("admin", "kaitoctl-e2e-admin"), ("kcm", "system:kube-controller-manager"),
                     ("scheduler", "system:kube-scheduler"), ("kwok", "kwok-controller")):
        issue(stem, name(cn, "system:masters"), server=False)
    sa = key()
    write_key(sa, pki / "sa.key")
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def _kubeconfig(path: Path, *, server: str, pki: Path, user: str, context: str) -> None:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server,
                                                    "certificate-authority-data": b64(pki / "ca.crt")}}],
        "users": [{"name": context, "user": {"client-certificate-data": b64(pki / f"{user}.crt"),
                                              "client-key-data": b64(pki / f"{user}.key")}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    # One event per request (ResponseComplete; long-running requests also get ResponseStarted).
    "omitStages": ["RequestReceived"],
    "rules": [
        # The harness's health polling and everyone's lease renewals are noise.
        {"level": "None", "users": ["system:anonymous"], "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*"]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "Metadata"},
    ],
}


# --- the cluster ----------------------------------------------------------------------------------------


@dataclass
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    kcm: int
    scheduler: int
    kwok: int

    @classmethod
    def allocate(cls) -> Ports:
        ports: list[int] = []
        while len(ports) < 6:
            p = free_port()
            if p not in ports:
                ports.append(p)
        return cls(*ports)


@dataclass(frozen=True)
class AuditMark:
    """A position in the audit log: requests(since=mark) returns only what came after it."""

    offset: int
    time: dt.datetime


@dataclass
class ClusterSpec:
    """Everything needed to (re)start the processes; saved as <state_dir>/cluster.json."""

    name: str
    state_dir: str
    etcd_dir: str
    bin_dir: str
    ports: Ports
    job_delay_s: float = 1.5
    system_node: bool = True
    argv: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClusterSpec:
        raw = json.loads(path.read_text())
        raw["ports"] = Ports(**raw["ports"])
        return cls(**raw)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


class LocalCluster:
    """One local control plane. See the module docstring for the API."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.state_dir = Path(spec.state_dir)
        self.bin_dir = Path(spec.bin_dir)
        self.etcd_dir = Path(spec.etcd_dir)
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.pki = self.state_dir / "pki"
        self.audit_log = self.state_dir / "logs" / "audit.log"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._clients: dict[str, Any] = {}
        self._restart_from: tuple[int, set[tuple[str, str, str]]] | None = None
        self._missing_watches: set[tuple[str, str, str]] = set()

    # -- construction --

    @classmethod
    def create(cls, name: str = "dev", *, state_root: Path | None = None, bin_dir: Path | None = None,
               job_delay_s: float = 1.5, system_node: bool = True) -> LocalCluster:
        """A cluster object (not started). An existing state dir of that name is reused by up()."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
            raise ValueError(f"cluster name {name!r}: use lowercase letters, digits and '-'")
        state_dir = (state_root or Path(os.environ.get("KAITOCTL_CLUSTER_STATE", DEFAULT_STATE_ROOT))) / name
        spec_file = state_dir / "cluster.json"
        if spec_file.exists():
            old = cls(ClusterSpec.load(spec_file))
            if old.healthy() and old._all_alive():
                return old
            old.down()  # leftovers of a crashed run; a new spec picks up new binaries and free ports
        bin_dir = bin_dir or find_bin_dir()
        # etcd on tmpfs: a throwaway cluster needs no durability, and fsync latency dominates otherwise.
        tag = hashlib_short(str(state_dir))
        etcd_dir = Path("/dev/shm") if Path("/dev/shm").is_dir() else state_dir
        spec = ClusterSpec(name=name, state_dir=str(state_dir), etcd_dir=str(etcd_dir / f"kaitoctl-etcd-{name}-{tag}"),
                           bin_dir=str(bin_dir), ports=Ports.allocate(), job_delay_s=job_delay_s,
                           system_node=system_node)
        return cls(spec)

    @classmethod
    def attach(cls, kubeconfig: str | Path) -> LocalCluster:
        """A running cluster started by `hack/local-cluster up` (its kubeconfig sits in its state dir)."""
        spec_file = Path(kubeconfig).resolve().parent / "cluster.json"
        if not spec_file.exists():
            raise ClusterError(f"{kubeconfig} is not a hack/local-cluster kubeconfig (no {spec_file})")
        cluster = cls(ClusterSpec.load(spec_file))
        if not cluster.healthy():
            raise ClusterError(f"cluster {cluster.name} ({kubeconfig}) is not running: hack/local-cluster up")
        return cluster

    # -- lifecycle --

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.spec.ports.apiserver}"

    def healthy(self) -> bool:
        return _http_ok(f"{self.server}/readyz", ca=self.pki / "ca.crt")

    def up(self, *, timeout: float = 120.0) -> None:
        """Start everything and wait until healthy. A healthy cluster of this name is left as it is."""
        if (self.state_dir / "cluster.json").exists() and self.healthy() and self._all_alive():
            return
        self.down(keep_state=False)
        t0 = time.monotonic()
        deadline = t0 + timeout
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        (self.state_dir / "pids").mkdir(exist_ok=True)
        (self.state_dir / "served-logs").mkdir(exist_ok=True)
        _make_pki(self.pki)
        for user in ("admin", "kcm", "scheduler", "kwok"):
            path = self.kubeconfig if user == "admin" else self.state_dir / f"{user}.kubeconfig"
            _kubeconfig(path, server=self.server, pki=self.pki, user=user, context=f"kaitoctl-{self.name}")
        (self.state_dir / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        # kwok v0.8.0 applies its defaults only when no KwokConfiguration is given, so a given one must set
        # them itself (parallelism 0 stops the pod and lease controllers; debugging handlers = logs and
        # port-forward, off unless set).
        kwok_conf = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
                     "options": {"enableDebuggingHandlers": True, "enableProfilingHandler": False,
                                 "enableContentionProfiling": False, "manageAllNodes": False,
                                 "podPlayStageParallelism": 4, "nodePlayStageParallelism": 4,
                                 "nodeLeaseParallelism": 4, "podsOnNodeSyncParallelism": 1,
                                 "enablePodsOnNodeSyncListPager": True, "enablePodsOnNodeSyncStreamWatch": False}}
        (self.state_dir / "kwok.yaml").write_text(yaml.safe_dump(kwok_conf))
        self.spec.argv = self._argv()
        self.spec.save(self.state_dir / "cluster.json")

        self._start("etcd")
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{self.spec.ports.etcd}/health", expect="true"),
                 timeout=deadline - time.monotonic(), what="etcd /health")
        self._start("kube-apiserver")
        self._wait_apiserver(deadline - time.monotonic())
        # kcm and the scheduler sync their informers while the CRDs and stages go in.
        self._start("kube-controller-manager")
        self._start("kube-scheduler")
        self._install_kwok_crds(deadline - time.monotonic())
        self._install_defaults()
        self._start("kwok")
        for comp, port in (("kube-controller-manager", self.spec.ports.kcm),
                           ("kube-scheduler", self.spec.ports.scheduler), ("kwok", self.spec.ports.kwok)):
            wait_for(lambda p=port, c=comp: self._check_alive(c) and _http_ok(f"https://127.0.0.1:{p}/healthz"),
                     timeout=deadline - time.monotonic(), what=f"{comp} /healthz")
        core = self.core()
        wait_for(lambda: core.read_namespaced_service_account("default", "default"),
                 timeout=deadline - time.monotonic(), what="the default ServiceAccount (kcm)")
        if self.spec.system_node:
            # AKS always has a system pool; its own VMSS number keeps it clear of the ARM emulator's nodes.
            self.add_cpu_node(SYSTEM_NODE, pool="system", mode="system", timeout=deadline - time.monotonic())
        (self.state_dir / "up-seconds").write_text(f"{time.monotonic() - t0:.1f}\n")

    def down(self, *, keep_state: bool = False) -> None:
        """Stop every process of this cluster; remove its state (and etcd data) unless keep_state."""
        from tests.harness import realnode

        realnode.remove(self)  # the real node, if this cluster has it: nothing of it is left behind
        for comp in reversed(COMPONENTS):
            self._stop(comp)
        self._clients.clear()
        if not keep_state:
            shutil.rmtree(self.etcd_dir, ignore_errors=True)
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """Environment for a process that should talk to this cluster (kaitoctl, kubectl)."""
        no_proxy = ",".join(x for x in ("127.0.0.1", "localhost", os.environ.get("NO_PROXY", "")) if x)
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "KAITOCTL_TEST_KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    # -- processes --

    def _argv(self) -> dict[str, list[str]]:
        p, s, b = self.spec.ports, self.state_dir, self.bin_dir
        pki = self.pki
        serving = [f"--tls-cert-file={pki / 'serving.crt'}", f"--tls-private-key-file={pki / 'serving.key'}"]
        apiserver = [
            str(b / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{p.etcd}",
            "--bind-address=127.0.0.1", f"--secure-port={p.apiserver}",
            *serving,
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # As kwokctl does: no request throttling in a test apiserver on 2 cores.
            "--enable-priority-and-fairness=false", "--max-requests-inflight=0",
            "--max-mutating-requests-inflight=0",
            f"--audit-policy-file={s / 'audit-policy.yaml'}", f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=0",
            "--profiling=false",
            # The real node's kubelet (tests/harness/realnode.py) accepts this client certificate for logs,
            # exec and port-forward; kwok's fake kubelet asks for none. Nodes are reached by InternalIP first
            # (the real node's bridge address), else by Hostname (kwok's "localhost").
            f"--kubelet-client-certificate={pki / 'admin.crt'}", f"--kubelet-client-key={pki / 'admin.key'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP",
        ]
        if not _has_default_route():
            # Without a default route the apiserver cannot pick an advertise address; a loopback one needs
            # the endpoint reconciler off (k8s #29374).
            apiserver += ["--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]
        return {
            "etcd": [
                str(b / "etcd"), "--name=node0", f"--data-dir={self.etcd_dir}",
                f"--listen-client-urls=http://127.0.0.1:{p.etcd}", f"--advertise-client-urls=http://127.0.0.1:{p.etcd}",
                f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-cluster=node0=http://127.0.0.1:{p.etcd_peer}",
                "--unsafe-no-fsync=true", "--auto-compaction-retention=1", "--log-level=warn",
            ],
            "kube-apiserver": apiserver,
            "kube-controller-manager": [
                str(b / "kube-controller-manager"),
                f"--kubeconfig={s / 'kcm.kubeconfig'}", "--leader-elect=false",
                "--bind-address=127.0.0.1", f"--secure-port={p.kcm}", *serving,
                f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--kube-api-qps=200", "--kube-api-burst=400", "--profiling=false",
            ],
            "kube-scheduler": [
                str(b / "kube-scheduler"),
                f"--kubeconfig={s / 'scheduler.kubeconfig'}", "--leader-elect=false",
                "--bind-address=127.0.0.1", f"--secure-port={p.scheduler}", *serving, "--profiling=false",
            ],
            "kwok": [
                str(b / "kwok"),
                f"--kubeconfig={s / 'kwok.kubeconfig'}", f"--config={s / 'kwok.yaml'}",
                "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                # The apiserver reaches the fake kubelet (logs, port-forward) via the node's Hostname address,
                # which kwok sets to --node-name, and the port from daemonEndpoints (--node-port).
                "--node-name=localhost", "--node-ip=", f"--node-port={p.kwok}",
                f"--server-address=127.0.0.1:{p.kwok}",
                *serving, "--node-lease-duration-seconds=40", f"--cidr={POD_CIDR}",
                f"--enable-crds={KWOK_ENABLED_CRDS}",
            ],
        }

    def _pidfile(self, comp: str) -> Path:
        return self.state_dir / "pids" / f"{comp}.pid"

    def _pid(self, comp: str) -> int | None:
        try:
            pid = int(self._pidfile(comp).read_text().strip())
        except (OSError, ValueError):
            return None
        # Guard against pid reuse: the process must be ours (its command line names our state).
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        return pid if (str(self.state_dir) in cmdline or str(self.etcd_dir) in cmdline) else None

    def _check_alive(self, comp: str) -> bool:
        pid = self._pid(comp)
        if pid is None or not _pid_alive(pid):
            tail = self.log_tail(comp)
            raise ClusterError(f"{comp} is not running; last log lines:\n{tail}")
        return True

    def _all_alive(self) -> bool:
        return all((pid := self._pid(c)) is not None and _pid_alive(pid) for c in COMPONENTS)

    def _start(self, comp: str) -> None:
        argv = self.spec.argv[comp]
        env = dict(os.environ)
        # kwok also reads $KWOK_WORKDIR/kwok.yaml; keep it away from ~/.kwok.
        env["KWOK_WORKDIR"] = str(self.state_dir)
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(k, None)
        log = (self.state_dir / "logs" / f"{comp}.log").open("ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.state_dir, env=env, start_new_session=True)
        log.close()
        self._procs[comp] = proc
        self._pidfile(comp).write_text(f"{proc.pid}\n")

    def _stop(self, comp: str, *, timeout: float = 15.0) -> None:
        pid = self._pid(comp)
        proc = self._procs.pop(comp, None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                if proc is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=0.1)
                else:
                    time.sleep(0.1)
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._pidfile(comp).unlink(missing_ok=True)

    def _wait_apiserver(self, timeout: float) -> None:
        wait_for(lambda: self._check_alive("kube-apiserver") and self.healthy(), timeout=timeout,
                 what="kube-apiserver /readyz")

    def stop_apiserver(self, *, grace_s: float = 1.0) -> None:
        """Stop the real kube-apiserver process; etcd and the other components keep running.

        SIGTERM first: it stops listening and ends watches at once; v1.36.3 then lingers ~15 s before it
        exits, so after grace_s it gets SIGKILL.
        """
        watches = self._component_watches()
        self._stop("kube-apiserver", timeout=grace_s)
        self._clients.clear()
        self._restart_from = (self.audit_log.stat().st_size if self.audit_log.exists() else 0, watches)

    def start_apiserver(self, *, timeout: float = 60.0, reconnect_timeout: float = 90.0) -> None:
        """Start kube-apiserver again with the same flags, port and etcd; wait for /readyz, then until kcm,
        the scheduler and kwok have re-established every watch they had before stop_apiserver().

        Why: their informers reconnect with client-go's back-off (up to several seconds), independently per
        resource. A change made in that window (say, Stage objects deleted) can reach kwok after the pods
        it should affect, and kwok would then act on stale stages.
        """
        if self._pid("kube-apiserver") is None:
            self._start("kube-apiserver")
        self._wait_apiserver(timeout)
        if self._restart_from is None:
            return
        offset, before = self._restart_from

        def reconnected() -> bool:
            missing = before - self._component_watches(since=offset)
            self._missing_watches = missing
            return not missing

        try:
            wait_for(reconnected, timeout=reconnect_timeout, interval=0.25, what="component watches")
        except TimeoutError as e:
            raise ClusterError(f"{e}; not re-established: {sorted(self._missing_watches)}") from e
        self._restart_from = None

    def _component_watches(self, since: int = 0) -> set[tuple[str, str, str]]:
        """(user, apiGroup, resource) of watches of kcm, the scheduler and kwok that are open (audit log).

        Open = ResponseStarted without ResponseComplete: right after a restart a resumed watch can end at
        once (its resourceVersion is gone from the new watch cache) and only a later re-list counts.
        """
        users = {"kwok-controller", "system:kube-controller-manager", "system:kube-scheduler"}
        started: dict[str, tuple[str, str, str]] = {}
        if not self.audit_log.exists():
            return set()
        with self.audit_log.open("rb") as f:
            f.seek(since)
            for raw in f:
                if b'"verb":"watch"' not in raw:
                    continue
                with contextlib.suppress(ValueError, KeyError):
                    ev = json.loads(raw)
                    if ev["user"]["username"] not in users:
                        continue
                    if ev["stage"] == "ResponseStarted":
                        ref = ev.get("objectRef") or {}
                        started[ev["auditID"]] = (ev["user"]["username"], ref.get("apiGroup", ""),
                                                  ref.get("resource", ""))
                    else:
                        started.pop(ev["auditID"], None)
        return set(started.values())

    def log_tail(self, comp: str, lines: int = 30) -> str:
        path = self.state_dir / "logs" / f"{comp}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def component_rss(self) -> dict[str, int]:
        out = {}
        for comp in COMPONENTS:
            pid = self._pid(comp)
            out[comp] = _rss_bytes(pid) if pid else 0
        return out

    def status(self) -> dict[str, Any]:
        comps = {}
        for comp in COMPONENTS:
            pid = self._pid(comp)
            alive = pid is not None and _pid_alive(pid)
            comps[comp] = {"pid": pid, "running": alive, "rss_mib": round(_rss_bytes(pid) / 2**20) if alive and pid
                           else 0}
        return {"name": self.name, "server": self.server, "kubeconfig": str(self.kubeconfig),
                "healthy": self.healthy(), "components": comps}

    # -- API access --

    def api_client(self, user_agent: str = HARNESS_USER_AGENT) -> Any:
        """A kubernetes.client.ApiClient for the admin user (cached per user agent)."""
        client = self._clients.get(user_agent)
        if client is None:
            from kubernetes import config

            client = config.new_client_from_config(config_file=str(self.kubeconfig))
            client.user_agent = user_agent
            self._clients[user_agent] = client
        return client

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client())

    def _install_kwok_crds(self, timeout: float) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        ext = client.ApiextensionsV1Api(self.api_client())
        crd_dir = self.bin_dir.parent / "share" / "kwok" / "crd"
        for plural in KWOK_CRDS:
            doc = yaml.safe_load((crd_dir / f"kwok.x-k8s.io_{plural}.yaml").read_text())
            try:
                ext.create_custom_resource_definition(doc)
            except ApiException as e:
                if e.status != 409:
                    raise

        def established() -> bool:
            for plural in KWOK_CRDS:
                crd = ext.read_custom_resource_definition(f"{plural}.{KWOK_GROUP}")
                conds = {c.type: c.status for c in ((crd.status and crd.status.conditions) or [])}
                if conds.get("Established") != "True":
                    return False
            return True

        wait_for(established, timeout=timeout, what="kwok CRDs established")

    def _install_defaults(self) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        stage_dir = self.bin_dir.parent / "share" / "kwok" / "stage"
        custom = self.custom()
        for stage in kwok_stages.default_stages(stage_dir, job_delay_s=self.spec.job_delay_s):
            try:
                custom.create_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "stages", stage)
            except ApiException as e:
                if e.status != 409:
                    raise
        storage: Any = client.StorageV1Api(self.api_client())  # dict bodies are accepted at runtime
        for sc in kwok_stages.storage_objects():
            try:
                storage.create_storage_class(sc)
            except ApiException as e:
                if e.status != 409:
                    raise

    # -- nodes --

    def _add_node(self, manifest: dict[str, Any], *, wait: bool, timeout: float) -> str:
        core = self.core()
        name = str(manifest["metadata"]["name"])
        core.create_node(manifest)
        if wait:
            self.wait_node_ready(name, timeout=timeout)
        return name

    def wait_node_ready(self, name: str, *, timeout: float = 30.0) -> None:
        """Ready=True (kwok) and the not-ready taint removed (the real node lifecycle controller)."""
        core = self.core()

        def ready() -> bool:
            node = core.read_node(name)
            conds = {c.type: c.status for c in (node.status.conditions or [])}
            taints = {t.key for t in (node.spec.taints or [])}
            return conds.get("Ready") == "True" and "node.kubernetes.io/not-ready" not in taints

        wait_for(ready, timeout=timeout, what=f"node {name} Ready")

    def add_gpu_node(self, name: str | None = None, *, vm_size: str = "Standard_NC24ads_A100_v4",
                     gpus: int | None = None, gfd_labels: bool = True, device_plugin: bool = True,
                     pool: str = "gpu", labels: Mapping[str, str] | None = None,
                     taints: list[dict[str, str]] | None = None, cpu: str | None = None,
                     memory: str | None = None, pods: str = "110", wait: bool = True,
                     timeout: float = 30.0) -> str:
        """A kwok GPU node shaped like an AKS GPU pool node (see tests/harness/nodes.py).

        Capacity and allocatable carry cpu, memory, pods and nvidia.com/gpu (left out with
        device_plugin=False, as before the NVIDIA device plugin runs); taint sku=gpu:NoSchedule by default.
        """
        name = name or f"aks-{pool}-{secrets.randbelow(10**8):08d}-vmss000000"
        manifest = node_manifest(name, vm_size=vm_size, pool=pool, gpus=gpus, gfd_labels=gfd_labels,
                                 device_plugin=device_plugin, labels=dict(labels or {}), taints=taints,
                                 cpu=cpu, memory=memory, pods=pods)
        if not manifest["metadata"]["labels"].get("kubernetes.azure.com/accelerator"):
            raise ValueError(f"{vm_size} is not a GPU size in presets.yaml; pass gpus=")
        return self._add_node(manifest, wait=wait, timeout=timeout)

    def add_cpu_node(self, name: str | None = None, *, vm_size: str = "Standard_D4s_v5", pool: str = "nodepool1",
                     mode: str = "user", labels: Mapping[str, str] | None = None,
                     taints: list[dict[str, str]] | None = None, cpu: str | None = None,
                     memory: str | None = None, pods: str = "110", wait: bool = True,
                     timeout: float = 30.0) -> str:
        name = name or f"aks-{pool}-{secrets.randbelow(10**8):08d}-vmss000000"
        manifest = node_manifest(name, vm_size=vm_size, pool=pool, gpus=0, mode=mode, labels=dict(labels or {}),
                                 taints=taints, cpu=cpu, memory=memory, pods=pods)
        return self._add_node(manifest, wait=wait, timeout=timeout)

    def delete_node(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core().delete_node(name)
        except ApiException as e:
            if e.status != 404:
                raise

    def node_factory(self) -> KwokNodes:
        return KwokNodes(self)

    # -- namespaces --

    def create_namespace(self, prefix: str = "t", *, timeout: float = 30.0) -> str:
        """A fresh namespace; returns once its `default` ServiceAccount exists (pods can be created)."""
        slug = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:40].strip("-") or "t"
        name = f"{slug}-{secrets.token_hex(3)}"
        core = self.core()
        core.create_namespace({"metadata": {"name": name, "labels": {"harness.kaitoctl.io/test": "true"}}})
        wait_for(lambda: core.read_namespaced_service_account("default", name), timeout=timeout,
                 what=f"ServiceAccount default in {name}")
        return name

    def delete_namespace(self, name: str, *, wait: bool = False, timeout: float = 60.0) -> None:
        """Delete the namespace; with `wait`, return only once none of its pods is left (a terminating pod still
        holds its GPU, so the next workload on the same node would not fit). Tests whose nodes are deleted first
        do not wait: pods of a deleted kwok node are only removed by the pod garbage collector, much later."""
        from kubernetes.client.exceptions import ApiException

        self.cleanup_namespace(name)
        try:
            self.core().delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise
        if wait:
            wait_for(lambda: not self.core().list_namespaced_pod(name).items, timeout=timeout,
                     what=f"the pods of namespace {name} to be gone")

    # -- pod behaviour (kwok Stages) --

    def set_pod_behavior(self, namespace: str, behavior: str, *, label: str | None = None,
                         owner_kind: str | None = None, container: str | None = None,
                         delay_s: float | None = None, exit_code: int | None = None, then: str | None = None,
                         message: str | None = None, restart_interval_s: float = 10.0,
                         settle_s: float = 0.3) -> list[str]:
        """Make pods of `namespace` behave as `behavior` (see kwok_stages.BEHAVIORS); returns Stage names.

        Replaces any behaviour of the namespace whose scope overlaps (same `label`, overlapping owner kind),
        so exactly one behaviour applies to a pod. Call it before the pods are created.
        """
        scope = kwok_stages.Scope(namespace, label, owner_kind)
        stages = kwok_stages.behavior_stages(scope, behavior, container=container, delay_s=delay_s,
                                             exit_code=exit_code, then=then, message=message,
                                             restart_interval_s=restart_interval_s)
        custom = self.custom()
        existing = custom.list_cluster_custom_object(
            KWOK_GROUP, KWOK_VERSION, "stages", label_selector=f"{kwok_stages.NAMESPACE_KEY}={namespace}")
        for item in existing.get("items", []):
            ann = item["metadata"].get("annotations") or {}
            old = kwok_stages.Scope(namespace, ann.get("harness.kaitoctl.io/label") or None,
                                    ann.get("harness.kaitoctl.io/owner_kind") or None)
            new_scope = kwok_stages.Scope(namespace, label, "Job" if behavior in kwok_stages.JOB_BEHAVIORS
                                          else owner_kind)
            if old.overlaps(new_scope):
                self._delete_custom("stages", item["metadata"]["name"])
        for stage in stages:
            custom.create_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "stages", stage)
        # kwok picks Stage objects up through an informer; give it a moment before pods appear.
        time.sleep(settle_s)
        return [s["metadata"]["name"] for s in stages]

    def clear_pod_behaviors(self, namespace: str) -> None:
        self._delete_labelled("stages", namespace)

    # -- port-forward and logs (kwok ClusterPortForward / ClusterLogs) --

    def forward_ports(self, namespace: str, target_port: int, *, address: str = "127.0.0.1",
                      pod_ports: Sequence[int] | None = None, settle_s: float = 0.3) -> str:
        """Port-forwards (through the API server) to pods of `namespace` reach address:target_port.

        pod_ports=None forwards every pod port there; otherwise only those ports (a later call for other
        ports adds to the same rule). Removed by cleanup_namespace().
        """
        entry: dict[str, Any] = {"target": {"address": address, "port": int(target_port)}}
        if pod_ports:
            entry["ports"] = [int(p) for p in pod_ports]

        def same(e: dict[str, Any]) -> bool:
            return sorted(e.get("ports") or []) == sorted(entry.get("ports") or [])

        name = self._upsert_namespace_rule("clusterportforwards", "ClusterPortForward", namespace,
                                           "forwards", entry, same)
        time.sleep(settle_s)
        return name

    def serve_logs(self, namespace: str, path_or_lines: str | os.PathLike[str] | Sequence[str], *,
                   container: str | None = None, previous: str | os.PathLike[str] | Sequence[str] | None = None,
                   settle_s: float = 0.3) -> Path:
        """Logs of pods in `namespace` (one container, or all) come from a local CRI-format file.

        A str or path is used as the file (absolute path taken); a list/tuple of lines is written to a new
        file (converted to CRI format). `previous` does the same for `--previous`. Returns the file path.
        """
        logs_file = self._log_file(namespace, container, path_or_lines, "current")
        entry: dict[str, Any] = {"logsFile": str(logs_file), "follow": True}
        if container:
            entry["containers"] = [container]
        if previous is not None:
            entry["previousLogsFile"] = str(self._log_file(namespace, container, previous, "previous"))

        def same(e: dict[str, Any]) -> bool:
            return (e.get("containers") or []) == (entry.get("containers") or [])

        self._upsert_namespace_rule("clusterlogs", "ClusterLogs", namespace, "logs", entry, same)
        time.sleep(settle_s)
        return logs_file

    def _log_file(self, namespace: str, container: str | None,
                  src: str | os.PathLike[str] | Sequence[str], kind: str) -> Path:
        if isinstance(src, str | os.PathLike):
            return Path(src).resolve()
        path = self.state_dir / "served-logs" / f"{namespace}-{container or 'all'}-{kind}-{secrets.token_hex(3)}.log"
        path.write_text("")
        append_log_lines(path, src)
        return path

    def _upsert_namespace_rule(self, plural: str, kind: str, namespace: str, list_key: str,
                               entry: dict[str, Any], same: Callable[[dict[str, Any]], bool]) -> str:
        from kubernetes.client.exceptions import ApiException

        custom = self.custom()
        name = f"ns-{namespace}"
        # kwok uses the first cluster rule that selects a pod, so each namespace gets exactly one rule.
        for _ in range(5):
            try:
                obj = custom.get_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, plural, name)
            except ApiException as e:
                if e.status != 404:
                    raise
                body = {"apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}", "kind": kind,
                        "metadata": {"name": name, "labels": {kwok_stages.NAMESPACE_KEY: namespace}},
                        "spec": {"selector": {"matchNamespaces": [namespace]}, list_key: [entry]}}
                try:
                    custom.create_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, plural, body)
                    return name
                except ApiException as e2:
                    if e2.status == 409:
                        continue
                    raise
            items = [e for e in obj["spec"].get(list_key, []) if not same(e)]
            # Entries naming ports/containers first: kwok takes the first entry that matches.
            items = sorted([*items, entry], key=lambda e: not (e.get("ports") or e.get("containers")))
            obj["spec"][list_key] = items
            try:
                custom.replace_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, plural, name, obj)
                return name
            except ApiException as e:
                if e.status != 409:
                    raise
        raise ClusterError(f"could not update {plural}/{name}: conflicts")

    def _delete_custom(self, plural: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.custom().delete_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, plural, name)
        except ApiException as e:
            if e.status != 404:
                raise

    def _delete_labelled(self, plural: str, namespace: str) -> None:
        items = self.custom().list_cluster_custom_object(
            KWOK_GROUP, KWOK_VERSION, plural, label_selector=f"{kwok_stages.NAMESPACE_KEY}={namespace}")
        for item in items.get("items", []):
            self._delete_custom(plural, item["metadata"]["name"])

    def cleanup_namespace(self, namespace: str) -> None:
        """Remove this namespace's behaviours, port-forward and log rules, and served log files."""
        for plural in ("stages", "clusterportforwards", "clusterlogs"):
            self._delete_labelled(plural, namespace)
        for f in (self.state_dir / "served-logs").glob(f"{namespace}-*.log"):
            f.unlink(missing_ok=True)

    # -- audit --

    def audit_mark(self) -> AuditMark:
        self._audit_sync()
        size = self.audit_log.stat().st_size if self.audit_log.exists() else 0
        return AuditMark(size, dt.datetime.now(dt.UTC))

    def _audit_sync(self, timeout: float = 10.0) -> None:
        """Make one sentinel request and wait until the audit log shows it, so earlier ones are written too."""
        token = secrets.token_hex(8)
        ua = f"harness-audit-sentinel/{token}"
        from kubernetes import client

        client.VersionApi(self.api_client(ua)).get_code()

        def seen() -> bool:
            if not self.audit_log.exists():
                return False
            with self.audit_log.open("rb") as f:
                f.seek(max(0, self.audit_log.stat().st_size - 65536))
                return token.encode() in f.read()

        wait_for(seen, timeout=timeout, interval=0.05, what="the audit sentinel")
        self._clients.pop(ua, None)

    def audit_events(self, since: AuditMark | dt.datetime | None = None) -> Iterator[AuditEvent]:
        if not self.audit_log.exists():
            return
        with self.audit_log.open("rb") as f:
            if isinstance(since, AuditMark):
                f.seek(since.offset)
            for raw in f:
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(since, dt.datetime):
                    ts = dt.datetime.fromisoformat(ev["requestReceivedTimestamp"].replace("Z", "+00:00"))
                    if ts < since:
                        continue
                yield ev

    def requests(self, user_agent_prefix: str = "kaitoctl", since: AuditMark | dt.datetime | None = None,
                 *, sync: bool = True) -> list[AuditEvent]:
        """Audit events (level Metadata) of API requests whose User-Agent starts with the prefix.

        One event per request (the final stage; a watch still open shows as ResponseStarted), in order.
        Each has verb, requestURI, objectRef, responseStatus.code, userAgent, requestReceivedTimestamp.
        """
        if sync:
            self._audit_sync()
        by_id: dict[str, AuditEvent] = {}
        for ev in self.audit_events(since):
            if str(ev.get("userAgent", "")).startswith(user_agent_prefix):
                by_id[ev["auditID"]] = ev  # later stages replace earlier ones
        return sorted(by_id.values(), key=lambda e: str(e.get("requestReceivedTimestamp")))


def reap_orphaned_sessions(state_root: Path | None = None, *, max_age_s: float = 86400.0) -> list[str]:
    """Stop clusters of pytest sessions (named pytest-<pid>) whose pytest process is gone.

    A killed pytest cannot run its teardown; its processes would otherwise run forever. Their state (logs)
    is kept for a day for post-mortems, then removed.
    """
    root = state_root or Path(os.environ.get("KAITOCTL_CLUSTER_STATE", DEFAULT_STATE_ROOT))
    reaped = []
    for spec_file in root.glob("pytest-*/cluster.json"):
        m = re.fullmatch(r"pytest-(\d+)", spec_file.parent.name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        cluster = LocalCluster(ClusterSpec.load(spec_file))
        old = time.time() - spec_file.stat().st_mtime > max_age_s
        if old or any(cluster._pid(c) for c in COMPONENTS):
            cluster.down(keep_state=not old)
            reaped.append(cluster.name)
    return reaped


class KwokNodes:
    """Creates kwok nodes for one test and deletes them afterwards (the `kwok_nodes` fixture)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.names: list[str] = []

    def gpu(self, name: str | None = None, **kwargs: Any) -> str:
        """LocalCluster.add_gpu_node(...) arguments; returns the node name."""
        node = self.cluster.add_gpu_node(name, **kwargs)
        self.names.append(node)
        return node

    def cpu(self, name: str | None = None, **kwargs: Any) -> str:
        node = self.cluster.add_cpu_node(name, **kwargs)
        self.names.append(node)
        return node

    def delete_all(self) -> None:
        for node in self.names:
            self.cluster.delete_node(node)
        self.names.clear()


def hashlib_short(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _has_default_route() -> bool:
    try:
        with open("/proc/net/route") as f:
            return any(line.split()[1] == "00000000" for line in f.readlines()[1:] if line.split())
    except OSError:
        return True


# --- CLI (hack/local-cluster) ---------------------------------------------------------------------------


def _print_env(cluster: LocalCluster) -> None:
    env = cluster.env()
    print(f"export KUBECONFIG={env['KUBECONFIG']}")
    print(f"export KAITOCTL_TEST_KUBECONFIG={env['KAITOCTL_TEST_KUBECONFIG']}")
    print(f'export PATH={cluster.bin_dir}:"$PATH"')
    print(f"export NO_PROXY={env['NO_PROXY']} no_proxy={env['no_proxy']}")


def _parse_kv(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _parse_taint(item: str) -> dict[str, str]:
    kv, _, effect = item.partition(":")
    k, _, v = kv.partition("=")
    return {"key": k, "value": v, "effect": effect or "NoSchedule"}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hack/local-cluster", description=__doc__.split("\n\n")[0] if __doc__ else "")
    ap.add_argument("--name", default=os.environ.get("KAITOCTL_CLUSTER", "dev"), help="cluster name (default dev)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start (or keep) the cluster; print exports")
    up.add_argument("--job-delay", type=float, default=1.5, help="default seconds before Job pods succeed")
    up.add_argument("--no-system-node", action="store_true", help="do not add the AKS-like system CPU node")
    up.add_argument("--timeout", type=float, default=180)
    down = sub.add_parser("down", help="stop the cluster and delete its state")
    down.add_argument("--keep-state", action="store_true")
    sub.add_parser("env", help="print the exports for a running cluster")
    sub.add_parser("status", help="component pids, health, memory")
    add = sub.add_parser("add-node", help="add a node: add-node gpu|cpu|real [options] (real: a kubelet node)")
    add.add_argument("kind", choices=["gpu", "cpu", "real"])
    add.add_argument("--node-name")
    add.add_argument("--vm-size")
    add.add_argument("--pool")
    add.add_argument("--gpus", type=int)
    add.add_argument("--no-gfd", action="store_true", help="no GPU feature discovery labels")
    add.add_argument("--no-device-plugin", action="store_true", help="no nvidia.com/gpu capacity")
    add.add_argument("--label", action="append", default=[], help="k=v (repeatable)")
    add.add_argument("--taint", action="append", default=None, help="k=v:Effect (repeatable; replaces default)")
    dele = sub.add_parser("delete-node")
    dele.add_argument("node")
    beh = sub.add_parser("set-pod-behavior", help="set-pod-behavior NAMESPACE BEHAVIOR [options]")
    beh.add_argument("namespace")
    beh.add_argument("behavior", choices=kwok_stages.BEHAVIORS)
    beh.add_argument("--label")
    beh.add_argument("--owner-kind")
    beh.add_argument("--container")
    beh.add_argument("--delay", type=float)
    beh.add_argument("--exit-code", type=int)
    beh.add_argument("--then", choices=["succeed", "fail"])
    sub.add_parser("restart-apiserver", help="stop and start kube-apiserver in place")
    args = ap.parse_args(argv)

    if args.cmd == "up":
        t0 = time.monotonic()
        try:
            cluster = LocalCluster.create(args.name, job_delay_s=args.job_delay, system_node=not args.no_system_node)
        except HarnessUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        try:
            cluster.up(timeout=args.timeout)
        except (TimeoutError, ClusterError) as e:
            print(f"error: {e}\nlogs: {cluster.state_dir / 'logs'}", file=sys.stderr)
            return 1
        print(f"# cluster {cluster.name} ready in {time.monotonic() - t0:.1f}s: {cluster.server}", file=sys.stderr)
        _print_env(cluster)
        return 0

    state = Path(os.environ.get("KAITOCTL_CLUSTER_STATE", DEFAULT_STATE_ROOT)) / args.name
    if not (state / "cluster.json").exists():
        if args.cmd == "down":
            return 0
        print(f"error: no cluster {args.name!r} (hack/local-cluster --name {args.name} up)", file=sys.stderr)
        return 1
    cluster = LocalCluster(ClusterSpec.load(state / "cluster.json"))
    if args.cmd == "down":
        cluster.down(keep_state=args.keep_state)
    elif args.cmd == "env":
        _print_env(cluster)
    elif args.cmd == "status":
        print(json.dumps(cluster.status(), indent=2))
    elif args.cmd == "add-node":
        taints = [_parse_taint(t) for t in args.taint] if args.taint is not None else None
        common: dict[str, Any] = {"labels": _parse_kv(args.label), "taints": taints}
        if args.vm_size:
            common["vm_size"] = args.vm_size
        if args.pool:
            common["pool"] = args.pool
        if args.kind == "real":
            from tests.harness import realnode

            t0 = time.monotonic()
            try:
                node = realnode.RealNode.add(cluster, vm_size=args.vm_size or "Standard_NC24ads_A100_v4",
                                             gpus=args.gpus, name=args.node_name, pool=args.pool or "gpu")
            except (realnode.RealNodeUnavailable, realnode.RealNodeError, TimeoutError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(f"# real node Ready in {time.monotonic() - t0:.1f}s", file=sys.stderr)
            print(node.name)
        elif args.kind == "gpu":
            print(cluster.add_gpu_node(args.node_name, gpus=args.gpus, gfd_labels=not args.no_gfd,
                                       device_plugin=not args.no_device_plugin, **common))
        else:
            print(cluster.add_cpu_node(args.node_name, **common))
    elif args.cmd == "delete-node":
        cluster.delete_node(args.node)
    elif args.cmd == "set-pod-behavior":
        for name in cluster.set_pod_behavior(args.namespace, args.behavior, label=args.label,
                                             owner_kind=args.owner_kind, container=args.container,
                                             delay_s=args.delay, exit_code=args.exit_code, then=args.then):
            print(name)
    elif args.cmd == "restart-apiserver":
        t0 = time.monotonic()
        cluster.stop_apiserver()
        cluster.start_apiserver()
        print(f"kube-apiserver restarted in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
