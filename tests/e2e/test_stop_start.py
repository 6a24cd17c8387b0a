"""`kaitoctl stop` / `kaitoctl start` (issue 14 item 2) on the local control plane: the real StatefulSet controller
scales the pods away and back, the ARM emulator (driven by the real Azure SDK) scales the pool kaitoctl created and
its kwok nodes leave and join."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.core.naming import pool_name
from tests.e2e.kaitoctl_cli import base_env, objects_in, run, wait_until

pytestmark = [pytest.mark.e2e]

WS = "phi-3-mini-128k-instruct"


@pytest.fixture
def emu(cluster: Any, make_arm_emulator: Any) -> Any:
    return make_arm_emulator(cluster.kubeconfig, operation_seconds=1.0)


@pytest.fixture
def env(cluster: Any, emu: Any) -> dict[str, str]:
    return base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "0.1"})


def _nodes_of(cluster: Any, pool: str) -> list[Any]:
    return cluster.core().list_node(label_selector=f"kubernetes.azure.com/agentpool={pool}").items


def _replicas(cluster: Any, namespace: str) -> int:
    from kubernetes import client

    return int(client.AppsV1Api(cluster.api_client()).read_namespaced_stateful_set(WS, namespace).spec.replicas)


def _pods(cluster: Any, namespace: str) -> list[str]:
    return [p.metadata.name for p in cluster.core().list_namespaced_pod(namespace).items]


@pytest.mark.azure
def test_stop_then_start_on_a_pool(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, WS)
    kept = {k for k in objects_in(cluster, namespace, WS) if not k.startswith("Pod/")}

    stopped = run(["stop", WS, "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert stopped["kind"] == "StopResult" and stopped["alreadyStopped"] is False
    marker = stopped["stopped"]
    assert marker["replicas"] == 1 and {k: marker["pool"][k] for k in ("name", "count")} == {"name": name, "count": 1}
    assert marker["pool"]["usdPerHour"] > 0  # the emulator's retail price for the SKU
    assert _replicas(cluster, namespace) == 0 and _pods(cluster, namespace) == []
    assert emu.pools()[name]["properties"]["count"] == 0
    wait_until(lambda: _nodes_of(cluster, name) == [], f"the nodes of {name} to leave")
    assert set(objects_in(cluster, namespace, WS)) == kept  # record, config, Services stay

    status = run(["status", WS, "-n", namespace, "-o", "json"], env).check().json()
    assert status["state"] == "Stopped" and status["stopped"] == marker
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["InferenceReady"] == ("False", "Stopped") and conditions["ResourceReady"] == ("False", "Stopped")
    table = run(["status", WS, "-n", namespace], env).check()
    assert "no longer spent" in table.stderr and f"kaitoctl start {WS} -n {namespace}" in table.stderr

    again = run(["stop", WS, "-n", namespace], env, timeout=60).check()
    assert "is already stopped" in again.stderr
    puts = len(emu.requests(method="PUT", path=f"agentPools/{name}$"))
    assert puts == 2  # create, scale to 0: the second stop wrote nothing

    started = run(["start", WS, "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert started["action"] == "start" and started["state"] == "Ready" and started["restored"] == marker
    assert started["pool"]["action"] == "scale"
    assert emu.pools()[name]["properties"]["count"] == 1 and len(_nodes_of(cluster, name)) == 1
    assert _replicas(cluster, namespace) == 1
    assert run(["status", WS, "-n", namespace, "-o", "json"], env).check().json()["state"] == "Ready"
    assert len(emu.requests(method="PUT", path=f"agentPools/{name}$")) == 3  # never recreated


def test_stop_then_start_on_labelled_nodes(cluster: Any, namespace: str, kwok_nodes: Any) -> None:
    env = base_env(cluster)
    node = kwok_nodes.gpu(vm_size="Standard_NV36ads_A10_v5", labels={"apps": f"sel-{namespace}"})
    run(["deploy", "phi-3", "--label", f"apps=sel-{namespace}", "--no-pool", "-n", namespace], env).check()
    stopped = run(["stop", WS, "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert stopped["stopped"]["pool"] is None and stopped["pool"] is None
    assert _replicas(cluster, namespace) == 0 and _pods(cluster, namespace) == []
    assert cluster.core().read_node(node) is not None  # BYO nodes stay
    started = run(["start", WS, "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert started["state"] == "Ready" and started["plan"]["placement"]["mode"] == "selector"
    assert [p.spec.node_name for p in cluster.core().list_namespaced_pod(namespace).items] == [node]


def test_stop_refuses_a_tuning_workspace(cluster: Any, namespace: str, kwok_nodes: Any) -> None:
    env = base_env(cluster)
    node = kwok_nodes.gpu(vm_size="Standard_NC24ads_A100_v4")
    run(["tune", "phi-3", "--method", "qlora", "--node", node, "-n", namespace, "--no-wait"], env).check()
    mark = cluster.audit_mark()
    refused = run(["stop", "phi-3-mini-128k-instruct-tuning", "-n", namespace], env)
    assert refused.returncode == 2, refused.stderr
    assert "is a tuning workspace" in refused.stderr and "kaitoctl status" in refused.stderr
    writes = [e for e in cluster.requests("kaitoctl", since=mark) if e["verb"] not in ("get", "list", "watch")]
    assert writes == []  # the API server's audit log: nothing written
