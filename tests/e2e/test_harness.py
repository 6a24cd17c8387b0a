"""Acceptance tests of the local control plane: real scheduler, controllers and API server decisions, with kwok
playing the nodes, so that kaitoctl's tests run against real status objects."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.e2e.conftest import LocalHTTPServer
from tests.harness.cluster import KwokNodes, LocalCluster, append_log_lines, wait_for
from tests.harness.kwok_stages import BEHAVIOR_LABEL

pytestmark = pytest.mark.e2e

GPU_TOLERATION = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}


def _api(cluster: LocalCluster) -> tuple[Any, Any, Any]:
    from kubernetes import client

    api = cluster.api_client()
    return client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)


def _container(name: str = "main", *, gpus: int = 0, ports: list[int] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "mcr.microsoft.com/aks/kaito/test:0.1"}
    if gpus:
        c["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}}
    if ports:
        c["ports"] = [{"containerPort": p} for p in ports]
    return c


def _gpu_statefulset(name: str, *, affinity_label: tuple[str, str], tolerate: bool) -> dict[str, Any]:
    key, value = affinity_label
    spec: dict[str, Any] = {
        "containers": [_container(gpus=1)],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}]}}},
    }
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
    return {
        "metadata": {"name": name},
        "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    }


def _pod(name: str, *, labels: dict[str, str] | None = None, restart: str = "Always",
         containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"restartPolicy": restart, "containers": containers or [_container()]}}


def _job(name: str, *, labels: dict[str, str] | None = None, backoff_limit: int = 0) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"backoffLimit": backoff_limit,
                     "template": {"metadata": {"labels": labels or {}},
                                  "spec": {"restartPolicy": "Never", "containers": [_container()]}}}}


def _job_condition(batch: Any, ns: str, name: str, cond: str) -> bool:
    job = batch.read_namespaced_job_status(name, ns)
    return any(c.type == cond and c.status == "True" for c in (job.status.conditions or []))


def _pod_of(core: Any, ns: str, selector: str) -> Any:
    pods = core.list_namespaced_pod(ns, label_selector=selector).items
    return pods[0] if pods else None


def _running_pod(core: Any, ns: str, name: str) -> Any:
    return wait_for(lambda: (p := core.read_namespaced_pod(name, ns)).status.phase == "Running" and p,
                    timeout=30, what=f"pod {name} Running")


def _container_status(core: Any, ns: str, name: str) -> Any:
    statuses = core.read_namespaced_pod(name, ns).status.container_statuses or []
    return statuses[0] if statuses else None


# -- (a) (b) scheduling on GPU nodes ---------------------------------------------------------------------------


def test_gpu_statefulset_lands_on_matching_gpu_node(cluster: LocalCluster, namespace: str,
                                                    kwok_nodes: KwokNodes) -> None:
    core, apps, _ = _api(cluster)
    wanted = kwok_nodes.gpu(labels={"kaito.sh/workspace": namespace})
    other = kwok_nodes.gpu(labels={"kaito.sh/workspace": "someone-else"})
    node = core.read_node(wanted)
    assert node.status.allocatable["nvidia.com/gpu"] == "1"
    assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-A100-80GB-PCIe"
    assert {t.key for t in node.spec.taints} == {"sku"}

    apps.create_namespaced_stateful_set(
        namespace, _gpu_statefulset("ws", affinity_label=("kaito.sh/workspace", namespace), tolerate=True))
    wait_for(lambda: (apps.read_namespaced_stateful_set("ws", namespace).status.ready_replicas or 0) == 1,
             timeout=30, what="StatefulSet ready")
    pod = core.read_namespaced_pod("ws-0", namespace)
    assert pod.spec.node_name == wanted != other
    assert pod.status.phase == "Running"
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert pod.status.pod_ip


def test_gpu_pod_without_toleration_stays_pending(cluster: LocalCluster, namespace: str,
                                                  kwok_nodes: KwokNodes) -> None:
    core, apps, _ = _api(cluster)
    kwok_nodes.gpu(labels={"kaito.sh/workspace": namespace})
    apps.create_namespaced_stateful_set(
        namespace, _gpu_statefulset("ws", affinity_label=("kaito.sh/workspace", namespace), tolerate=False))

    def failed_scheduling() -> Any:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=ws-0").items
        return next((e for e in events if e.reason == "FailedScheduling"), None)

    event = wait_for(failed_scheduling, timeout=30, what="FailedScheduling event")
    assert "default-scheduler" in (event.reporting_component or event.source.component or "")
    assert "1 node(s) had untolerated taint" in event.message, event.message
    pod = core.read_namespaced_pod("ws-0", namespace)
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    cond = {c.type: c for c in pod.status.conditions}["PodScheduled"]
    assert cond.status == "False" and cond.reason == "Unschedulable"


def test_gpu_node_without_device_plugin_has_no_gpu_capacity(cluster: LocalCluster, namespace: str,
                                                            kwok_nodes: KwokNodes) -> None:
    core, _, _ = _api(cluster)
    name = kwok_nodes.gpu(device_plugin=False, gfd_labels=False, labels={"kaito.sh/workspace": namespace})
    node = core.read_node(name)
    assert "nvidia.com/gpu" not in node.status.allocatable
    assert "nvidia.com/gpu.present" not in node.metadata.labels
    pod = _pod("needs-gpu", containers=[_container(gpus=1)])
    pod["spec"]["tolerations"] = [GPU_TOLERATION]
    pod["spec"]["nodeSelector"] = {"kaito.sh/workspace": namespace}
    core.create_namespaced_pod(namespace, pod)
    event = wait_for(lambda: next((e for e in core.list_namespaced_event(namespace).items
                                   if e.reason == "FailedScheduling"), None), timeout=30, what="FailedScheduling")
    assert "Insufficient nvidia.com/gpu" in event.message


# -- (c) Jobs ---------------------------------------------------------------------------------------------------


def test_job_completes_after_running(cluster: LocalCluster, namespace: str) -> None:
    core, _, batch = _api(cluster)
    batch.create_namespaced_job(namespace, _job("ok"))
    # The default Job-complete stage waits job_delay_s, so Running is observable first.
    wait_for(lambda: (p := _pod_of(core, namespace, "job-name=ok")) and p.status.phase == "Running",
             timeout=20, what="Job pod Running")
    wait_for(lambda: _job_condition(batch, namespace, "ok", "Complete"), timeout=30, what="Job Complete")
    pod = _pod_of(core, namespace, "job-name=ok")
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert pod.metadata.owner_references[0].kind == "Job"


def test_failing_job_is_failed(cluster: LocalCluster, namespace: str) -> None:
    core, _, batch = _api(cluster)
    cluster.set_pod_behavior(namespace, "job-fail", delay_s=0.5, exit_code=3)
    batch.create_namespaced_job(namespace, _job("bad"))
    wait_for(lambda: _job_condition(batch, namespace, "bad", "Failed"), timeout=30, what="Job Failed")
    job = batch.read_namespaced_job_status("bad", namespace)
    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert failed.reason == "BackoffLimitExceeded"
    pod = _pod_of(core, namespace, "job-name=bad")
    assert pod.status.phase == "Failed"
    term = pod.status.container_statuses[0].state.terminated
    assert term.exit_code == 3 and term.reason == "Error"


def test_job_runs_for_a_while_then_succeeds_per_label(cluster: LocalCluster, namespace: str) -> None:
    core, _, batch = _api(cluster)
    # Namespace-wide: Job pods fail. Label-scoped: "slow" Job pods run 3 s, then succeed. Exactly one applies.
    cluster.set_pod_behavior(namespace, "job-fail", delay_s=0.2)
    cluster.set_pod_behavior(namespace, "job-running", label="slow", delay_s=3, then="succeed")
    batch.create_namespaced_job(namespace, _job("slow", labels={BEHAVIOR_LABEL: "slow"}))
    batch.create_namespaced_job(namespace, _job("fast-fail"))
    pod = wait_for(lambda: (p := _pod_of(core, namespace, "job-name=slow")) and p.status.phase == "Running" and p,
                   timeout=20, what="slow Job pod Running")
    running_since = time.monotonic()
    wait_for(lambda: _job_condition(batch, namespace, "fast-fail", "Failed"), timeout=20, what="other Job Failed")
    assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Running"
    wait_for(lambda: _job_condition(batch, namespace, "slow", "Complete"), timeout=20, what="slow Job Complete")
    assert time.monotonic() - running_since > 1.5


def test_job_stays_running(cluster: LocalCluster, namespace: str) -> None:
    core, _, batch = _api(cluster)
    cluster.set_pod_behavior(namespace, "job-running")
    batch.create_namespaced_job(namespace, _job("forever"))
    wait_for(lambda: (p := _pod_of(core, namespace, "job-name=forever")) and p.status.phase == "Running",
             timeout=20, what="Job pod Running")
    time.sleep(cluster.spec.job_delay_s + 2)
    assert _pod_of(core, namespace, "job-name=forever").status.phase == "Running"
    assert not _job_condition(batch, namespace, "forever", "Complete")


# -- pod behaviours --------------------------------------------------------------------------------------------


def test_image_pull_backoff(cluster: LocalCluster, namespace: str) -> None:
    core, _, _ = _api(cluster)
    cluster.set_pod_behavior(namespace, "image-pull-backoff",
                             message='failed to pull and unpack image "%s": 401 Unauthorized')
    core.create_namespaced_pod(namespace, _pod("p"))
    seen: set[str] = set()

    def reason(want: str) -> bool:
        s = _container_status(core, namespace, "p")
        if s and s.state.waiting:
            seen.add(s.state.waiting.reason)
        return bool(s and s.state.waiting and s.state.waiting.reason == want)

    wait_for(lambda: reason("ImagePullBackOff"), timeout=20, interval=0.05, what="ImagePullBackOff")
    pod = core.read_namespaced_pod("p", namespace)
    status = pod.status.container_statuses[0]
    assert pod.status.phase == "Pending"
    assert status.state.waiting.message == 'Back-off pulling image "mcr.microsoft.com/aks/kaito/test:0.1"'
    assert status.ready is False and status.restart_count == 0
    assert "ErrImagePull" in seen
    events = {e.reason for e in core.list_namespaced_event(namespace).items}
    assert {"Failed", "BackOff"} <= events


def test_crash_loop(cluster: LocalCluster, namespace: str) -> None:
    core, _, _ = _api(cluster)
    cluster.set_pod_behavior(namespace, "crash-loop", exit_code=2, restart_interval_s=1.0)
    core.create_namespaced_pod(namespace, _pod("p"))
    wait_for(lambda: (s := _container_status(core, namespace, "p")) and s.restart_count >= 2, timeout=20,
             what="restartCount >= 2")
    pod = core.read_namespaced_pod("p", namespace)
    s = pod.status.container_statuses[0]
    assert pod.status.phase == "Running"
    assert s.state.waiting.reason == "CrashLoopBackOff"
    assert s.state.waiting.message.startswith("back-off ") and "restarting failed container=main" in s.state.waiting.message
    assert s.last_state.terminated.exit_code == 2 and s.last_state.terminated.reason == "Error"
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"


def test_oom_killed(cluster: LocalCluster, namespace: str) -> None:
    core, _, batch = _api(cluster)
    cluster.set_pod_behavior(namespace, "oom-killed")
    core.create_namespaced_pod(namespace, _pod("server"))
    batch.create_namespaced_job(namespace, _job("tune"))
    s = wait_for(lambda: (x := _container_status(core, namespace, "server")) and x.last_state.terminated and x,
                 timeout=20, what="server OOMKilled")
    assert s.last_state.terminated.reason == "OOMKilled" and s.last_state.terminated.exit_code == 137
    assert s.restart_count >= 1 and s.state.waiting.reason == "CrashLoopBackOff"
    # restartPolicy Never (a Job pod): the pod fails with the container terminated OOMKilled.
    wait_for(lambda: _job_condition(batch, namespace, "tune", "Failed"), timeout=30, what="Job Failed")
    term = _pod_of(core, namespace, "job-name=tune").status.container_statuses[0].state.terminated
    assert term.reason == "OOMKilled" and term.exit_code == 137


def test_crash_after_running_for_a_while_in_one_container(cluster: LocalCluster, namespace: str) -> None:
    core, _, _ = _api(cluster)
    cluster.set_pod_behavior(namespace, "crash-loop", container="model", delay_s=1.5)
    core.create_namespaced_pod(namespace, _pod("p", containers=[_container("model"), _container("sidecar")]))
    _running_pod(core, namespace, "p")
    assert {c.type: c.status for c in core.read_namespaced_pod("p", namespace).status.conditions}["Ready"] == "True"

    def crashed() -> dict[str, Any] | None:
        statuses = core.read_namespaced_pod("p", namespace).status.container_statuses
        by_name = {s.name: s for s in statuses}
        return by_name if by_name["model"].restart_count > 0 else None

    by_name = wait_for(crashed, timeout=20, what="model container crashed")
    assert by_name["model"].state.waiting.reason == "CrashLoopBackOff"
    assert by_name["sidecar"].ready is True and by_name["sidecar"].state.running


def test_not_ready_and_default_ready_in_other_namespace(cluster: LocalCluster, namespace: str) -> None:
    core, apps, _ = _api(cluster)
    cluster.set_pod_behavior(namespace, "not-ready")
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [_container()]}}}})
    pod = wait_for(lambda: (p := _pod_of(core, namespace, "app=d")) and p.status.phase == "Running" and p,
                   timeout=20, what="pod Running")
    time.sleep(1)
    pod = core.read_namespaced_pod(pod.metadata.name, namespace)
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    assert pod.status.container_statuses[0].state.running and not pod.status.container_statuses[0].ready
    assert not apps.read_namespaced_deployment("d", namespace).status.ready_replicas
    # Another namespace is not affected.
    other = cluster.create_namespace("other")
    try:
        core.create_namespaced_pod(other, _pod("p"))
        wait_for(lambda: {c.type: c.status for c in (core.read_namespaced_pod("p", other).status.conditions or [])}
                 .get("Ready") == "True", timeout=20, what="pod Ready in another namespace")
    finally:
        cluster.delete_namespace(other)


# -- storage ---------------------------------------------------------------------------------------------------


def test_pvc_binds_and_pod_schedules(cluster: LocalCluster, namespace: str) -> None:
    core, apps, _ = _api(cluster)
    from kubernetes import client

    sc = client.StorageV1Api(cluster.api_client()).read_storage_class("default")
    assert sc.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc.volume_binding_mode == "WaitForFirstConsumer"
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                     {**_container(), "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}]}})
    wait_for(lambda: (apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas or 0) == 1,
             timeout=30, what="StatefulSet with a PVC ready")
    pvc = core.read_namespaced_persistent_volume_claim("data-db-0", namespace)
    assert pvc.status.phase == "Bound" and pvc.spec.storage_class_name == "default"
    # Bound by the real PV controller (kcm), after the scheduler picked the node (WaitForFirstConsumer).
    ann = pvc.metadata.annotations
    assert ann["pv.kubernetes.io/bind-completed"] == "yes"
    assert ann["volume.kubernetes.io/selected-node"] == core.read_namespaced_pod("db-0", namespace).spec.node_name
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.status.phase == "Bound" and pv.spec.claim_ref.uid == pvc.metadata.uid
    assert pv.spec.csi.driver == "disk.csi.azure.com"


# -- (d) port-forward ------------------------------------------------------------------------------------------


def _serving_pod(cluster: LocalCluster, ns: str, http_server: LocalHTTPServer) -> str:
    core, _, _ = _api(cluster)
    cluster.forward_ports(ns, http_server.port)
    core.create_namespaced_pod(ns, _pod("server", containers=[_container(ports=[5000])]))
    _running_pod(core, ns, "server")
    return "server"


def test_port_forward_with_kubectl(cluster: LocalCluster, namespace: str, http_server: LocalHTTPServer) -> None:
    pod = _serving_pod(cluster, namespace, http_server)
    proc = subprocess.Popen(["kubectl", "-n", namespace, "port-forward", f"pod/{pod}", ":5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **cluster.env()})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+) -> 5000", line)
        assert m, line
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        conn.request("GET", "/v1/models")
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read()) == {"marker": http_server.marker, "path": "/v1/models"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_port_forward_with_python_client(cluster: LocalCluster, namespace: str,
                                         http_server: LocalHTTPServer) -> None:
    """kaitoctl's path: kubernetes.stream.portforward (WebSocket, v4.channel.k8s.io) through the API server."""
    from kubernetes import client
    from kubernetes.stream import portforward

    pod = _serving_pod(cluster, namespace, http_server)
    core = client.CoreV1Api(cluster.api_client("kaitoctl/0.0-test"))
    for path in ("/healthz", "/v1/models"):  # one forward per request, as a CLI would
        pf = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports="5000")
        # The client offers v5.channel.k8s.io and v4.channel.k8s.io; the kubelet side (kwok, via
        # k8s.io/cri-streaming, like a real kubelet) speaks v4 for port-forward.
        assert pf.websocket.getheaders()["sec-websocket-protocol"] == "v4.channel.k8s.io"
        sock = pf.socket(5000)
        sock.settimeout(10)
        try:
            # HTTP over the forwarded socket; http.client reads by Content-Length, not to EOF (see below).
            conn = http.client.HTTPConnection("127.0.0.1", 5000, timeout=10)
            conn.sock = sock
            conn.request("GET", path)
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read()) == {"marker": http_server.marker, "path": path}
            assert pf.error(5000) is None
        finally:
            sock.close()
            pf.close()
    assert http_server.paths == ["/healthz", "/v1/models"]


def test_python_port_forward_has_no_eof_after_target_closes(cluster: LocalCluster, namespace: str,
                                                            http_server: LocalHTTPServer) -> None:
    """Documents a property of the v4.channel.k8s.io WebSocket protocol (kubelet and kwok alike): when the
    target closes its connection, the client is not told; reading to EOF blocks. Use Content-Length/chunking."""
    from kubernetes.stream import portforward

    pod = _serving_pod(cluster, namespace, http_server)
    core = cluster.core()
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports="5000")
    sock = pf.socket(5000)
    sock.settimeout(3)
    try:
        sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        with pytest.raises(TimeoutError):
            while True:
                chunk = sock.recv(4096)
                assert chunk, "EOF arrived: the forward now propagates close; update kaitoctl's docs/tests"
                data += chunk
        assert http_server.marker.encode() in data
    finally:
        sock.close()
        pf.close()


# -- (e) logs --------------------------------------------------------------------------------------------------


def test_logs_through_the_api(cluster: LocalCluster, namespace: str) -> None:
    core, _, _ = _api(cluster)
    path = cluster.serve_logs(namespace, ["loading model", "model loaded", "listening on :5000"])
    core.create_namespaced_pod(namespace, _pod("server"))
    _running_pod(core, namespace, "server")
    assert core.read_namespaced_pod_log("server", namespace) == "loading model\nmodel loaded\nlistening on :5000\n"
    assert core.read_namespaced_pod_log("server", namespace, tail_lines=1) == "listening on :5000\n"
    stamped = core.read_namespaced_pod_log("server", namespace, tail_lines=1, timestamps=True)
    assert re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z listening on :5000\n$", stamped), stamped

    # follow: the stream stays open and delivers lines appended later.
    resp = core.read_namespaced_pod_log("server", namespace, follow=True, tail_lines=1, _preload_content=False)
    got: list[str] = []
    done = threading.Event()

    def reader() -> None:
        for raw in resp.stream(amt=64):
            got.extend(x for x in raw.decode().splitlines() if x)
            if "request 2" in got:
                done.set()
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    wait_for(lambda: "listening on :5000" in got, timeout=10, what="first followed line")
    append_log_lines(path, ["request 1", "request 2"])
    assert done.wait(10), got
    resp.release_conn()
    assert got == ["listening on :5000", "request 1", "request 2"]


def test_logs_per_container_and_previous(cluster: LocalCluster, namespace: str) -> None:
    core, _, _ = _api(cluster)
    cluster.serve_logs(namespace, ["model says hi"], container="model", previous=["before the crash"])
    cluster.serve_logs(namespace, ["sidecar says hi"])
    core.create_namespaced_pod(namespace, _pod("p", containers=[_container("model"), _container("sidecar")]))
    _running_pod(core, namespace, "p")
    assert core.read_namespaced_pod_log("p", namespace, container="model") == "model says hi\n"
    assert core.read_namespaced_pod_log("p", namespace, container="sidecar") == "sidecar says hi\n"
    assert core.read_namespaced_pod_log("p", namespace, container="model", previous=True) == "before the crash\n"


# -- (f) Services ----------------------------------------------------------------------------------------------


def test_service_gets_endpoints_for_ready_pod(cluster: LocalCluster, namespace: str) -> None:
    from kubernetes import client

    core, apps, _ = _api(cluster)
    discovery = client.DiscoveryV1Api(cluster.api_client())
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [_container(ports=[5000])]}}}})
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 5000}]}})

    def ready_endpoints() -> list[Any]:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=web").items
        return [e for s in slices for e in (s.endpoints or []) if e.conditions.ready]

    endpoints = wait_for(ready_endpoints, timeout=30, what="ready EndpointSlice endpoint")
    pod = _pod_of(core, namespace, "app=web")
    assert endpoints[0].addresses == [pod.status.pod_ip]
    assert endpoints[0].target_ref.name == pod.metadata.name
    svc = core.read_namespaced_service("web", namespace)
    assert svc.spec.cluster_ip.startswith("10.96.")


# -- (g) API server restart ------------------------------------------------------------------------------------


def test_apiserver_restart_under_a_running_watch(cluster: LocalCluster, namespace: str) -> None:
    from kubernetes import client, watch

    core, _, _ = _api(cluster)
    core.create_namespaced_pod(namespace, _pod("before"))
    _running_pod(core, namespace, "before")

    outcome: dict[str, Any] = {}
    started = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        try:
            for _ in w.stream(client.CoreV1Api(cluster.api_client("watcher")).list_namespaced_pod, namespace,
                              timeout_seconds=120, _request_timeout=130):
                started.set()
            outcome["ended"] = "stream ended"
        except Exception as e:  # the point of the test: the watch must break
            outcome["ended"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=watcher, daemon=True)
    t.start()
    assert started.wait(10)
    old_pid = cluster.status()["components"]["kube-apiserver"]["pid"]
    cluster.stop_apiserver()
    try:
        t.join(30)
        assert not t.is_alive(), "watch still running after the API server stopped"
        assert outcome["ended"]
    finally:
        cluster.start_apiserver()
    status = cluster.status()
    assert status["components"]["kube-apiserver"]["pid"] != old_pid
    assert status["server"].endswith(f":{cluster.spec.ports.apiserver}")

    core, _, _ = _api(cluster)
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == ["before"]
    w = watch.Watch()
    seen: list[str] = []
    core.create_namespaced_pod(namespace, _pod("after"))
    for ev in w.stream(core.list_namespaced_pod, namespace, timeout_seconds=30):
        if ev["object"].metadata.name == "after" and ev["object"].status.phase == "Running":
            seen.append(ev["type"])
            w.stop()
    # The scheduler and kwok reconnected too: the new pod got scheduled and started.
    assert seen


# -- audit -----------------------------------------------------------------------------------------------------


def test_audit_counts_requests_by_user_agent(cluster: LocalCluster, namespace: str) -> None:
    from kubernetes import client

    mark = cluster.audit_mark()
    kaitoctl = client.CoreV1Api(cluster.api_client("kaitoctl/0.0-test (linux)"))
    kaitoctl.list_namespaced_pod(namespace)
    kaitoctl.list_namespaced_config_map(namespace)
    kaitoctl.create_namespaced_config_map(namespace, {"metadata": {"name": "x"}})
    _api(cluster)[0].list_namespaced_pod(namespace)  # the harness's own request does not count
    events = cluster.requests("kaitoctl", since=mark)
    assert [(e["verb"], e["objectRef"]["resource"]) for e in events] == [
        ("list", "pods"), ("list", "configmaps"), ("create", "configmaps")]
    assert all(e["objectRef"]["namespace"] == namespace for e in events)
    assert events[2]["responseStatus"]["code"] == 201
    assert cluster.requests("kaitoctl", since=cluster.audit_mark()) == []


# -- CLI -------------------------------------------------------------------------------------------------------


def _cli(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    from tests.harness.cluster import REPO_ROOT

    env = {**os.environ, "KAITOCTL_CLUSTER_STATE": str(cluster.state_dir.parent)}
    return subprocess.run([str(REPO_ROOT / "hack" / "local-cluster"), "--name", cluster.name, *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_local_cluster_cli(cluster: LocalCluster) -> None:
    env = _cli(cluster, "env")
    assert env.returncode == 0, env.stderr
    assert f"export KUBECONFIG={cluster.kubeconfig}" in env.stdout
    status = json.loads(_cli(cluster, "status").stdout)
    assert status["healthy"] and all(c["running"] for c in status["components"].values())
    added = _cli(cluster, "add-node", "gpu", "--vm-size", "Standard_NC48ads_A100_v4", "--no-device-plugin")
    assert added.returncode == 0, added.stderr
    name = added.stdout.strip()
    try:
        node = _api(cluster)[0].read_node(name)
        assert node.metadata.labels["node.kubernetes.io/instance-type"] == "Standard_NC48ads_A100_v4"
        assert node.metadata.labels["nvidia.com/gpu.count"] == "2"
        assert "nvidia.com/gpu" not in node.status.capacity
    finally:
        assert _cli(cluster, "delete-node", name).returncode == 0
    kubectl = subprocess.run(["kubectl", "version", "-o", "json"], capture_output=True, text=True,
                             env={**os.environ, **cluster.env()}, check=True)
    versions = json.loads(kubectl.stdout)
    assert versions["serverVersion"]["gitVersion"] == versions["clientVersion"]["gitVersion"] == "v1.36.3"
