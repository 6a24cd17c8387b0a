"""The acceptance test: tune → deploy → chat → delete, on the local control plane and the ARM emulator, from
flags and from the Phi-3 cookbook's Workspace YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaitoctl.core.naming import pool_name
from tests.e2e.kaitoctl_cli import base_env, objects_in, run
from tests.harness.model_server import ModelServer

pytestmark = [pytest.mark.e2e, pytest.mark.azure]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BASE = "phi-3-mini-128k-instruct"


@pytest.fixture
def emu(cluster: Any, make_arm_emulator: Any) -> Any:
    return make_arm_emulator(cluster.kubeconfig, operation_seconds=1.0)


@pytest.fixture
def env(cluster: Any, emu: Any, tmp_path: Path) -> dict[str, str]:
    return base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "0.1", "XDG_CACHE_HOME": str(tmp_path)})


def _nodes(cluster: Any, pool: str) -> list[Any]:

    return cluster.core().list_node(label_selector=f"kubernetes.azure.com/agentpool={pool}").items


def test_tune_deploy_chat_delete(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    # 1. tune: a pool is created, the Job completes, the adapter is recorded, the pool is released
    tuned = run(["tune", "phi-3", "--method", "qlora", "-n", namespace, "-o", "json"], env, timeout=180).check().json()
    tune_pool = pool_name(namespace, f"{BASE}-tuning")
    assert tuned["state"] == "Succeeded" and {k: tuned["pool"][k] for k in ("name", "action")} == {"name": tune_pool, "action": "create"}
    assert tuned["output"] == {"volume": f"pvc:{BASE}-tuning-adapter", "claimName": f"{BASE}-tuning-adapter"}
    assert emu.requests(method="PUT", path=tune_pool) and tune_pool not in emu.pools()
    status = run(["status", "-n", namespace, "-o", "json"], env).check().json()
    assert status["items"][0]["state"] == "Succeeded" and status["items"][0]["output"]["claimName"] == f"{BASE}-tuning-adapter"

    # 2. deploy with no arguments: the base model and that adapter, on a pool of its own, Ready
    deployed = run(["deploy", "-n", namespace, "-o", "json"], env, timeout=180).check().json()
    serve_pool = pool_name(namespace, BASE)
    assert deployed["state"] == "Ready" and deployed["endpoint"]["adapters"] == [f"{BASE}-tuning"]
    assert deployed["pool"]["name"] == serve_pool and len(_nodes(cluster, serve_pool)) == 1

    # 3. chat: streamed from the stand-in, which checks it was asked for the adapter
    with ModelServer(models=[BASE, f"{BASE}-tuning"]) as server:
        cluster.forward_ports(namespace, server.port)
        answer = run(["chat", "Summarise what you were fine-tuned on", "-n", namespace], env).check()
        assert answer.stdout == "echo: Summarise what you were fine-tuned on\n"
        assert server.completions()[-1]["model"] == f"{BASE}-tuning"

    # 4. delete: no object, pool or node left
    run(["delete", "--all", "-n", namespace, "-y"], env, timeout=180).check()
    assert objects_in(cluster, namespace) == {}
    assert not [p for p in emu.pools() if p.startswith("kc")]
    assert _nodes(cluster, serve_pool) == [] and _nodes(cluster, tune_pool) == []


def test_the_cookbook_workspace_yaml(cluster: Any, namespace: str, emu: Any, env: dict[str, str], tmp_path: Path) -> None:
    from kubernetes import client

    cluster.core().create_namespaced_secret(
        namespace,
        {"metadata": {"name": "acr-push"}, "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}},
    )
    text = (FIXTURES / "cookbook-tuning-phi-3.yaml").read_text()
    text = text.replace("ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "myacr.azurecr.io/adapters/phi-3:0.0.1")
    text = text.replace("ACR_REGISTRY_SECRET_HERE", "acr-push")
    path = tmp_path / "cookbook.yaml"
    path.write_text(text)

    tuned = run(["apply", "-f", str(path), "--instance-type", "Standard_NC24ads_A100_v4", "-n", namespace, "-o", "json"], env, timeout=180)
    data = tuned.check().json()
    assert data["state"] == "Succeeded" and data["output"]["image"] == "myacr.azurecr.io/adapters/phi-3:0.0.1"
    props = emu.requests(method="PUT", path=pool_name(namespace, "workspace-tuning-phi-3"))[0]["body"]["properties"]
    assert props["vmSize"] == "Standard_NC24ads_A100_v4" and props["nodeLabels"]["app"] == "tuning-phi-3"

    deployed = run(["deploy", "-n", namespace, "-o", "json"], env, timeout=180).check().json()
    assert deployed["endpoint"]["adapters"] == ["workspace-tuning-phi-3"]
    sts = client.AppsV1Api(cluster.api_client()).read_namespaced_stateful_set(BASE, namespace)
    pullers = [c for c in sts.spec.template.spec.init_containers if c.name.startswith("puller-")]
    assert pullers and pullers[0].args[0] == "myacr.azurecr.io/adapters/phi-3:0.0.1"

    with ModelServer(models=[BASE, "workspace-tuning-phi-3"]) as server:
        cluster.forward_ports(namespace, server.port)
        run(["chat", "hello", "-n", namespace], env).check()
        assert server.completions()[-1]["model"] == "workspace-tuning-phi-3"

    run(["delete", "--all", "-n", namespace, "-y"], env, timeout=180).check()
    assert not [p for p in emu.pools() if p.startswith("kc")]
    assert [k for k in objects_in(cluster, namespace)] == []
