"""Paths of a real run that need a cluster: references checked before the first write (push secret, adapter claim,
model access secret, the user's ConfigMaps), and the flags that choose the cluster and the image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kaitoctl_cli import base_env, objects_in, run

pytestmark = pytest.mark.e2e

A100 = "Standard_NC24ads_A100_v4"
WS = "phi-3-mini-128k-instruct"


@pytest.fixture
def env(cluster: Any) -> dict[str, str]:
    return base_env(cluster)


@pytest.fixture
def gpu_node(cluster: Any) -> str:
    name = cluster.add_gpu_node(vm_size=A100)
    yield name
    cluster.delete_node(name)


def _refused(result: Any, error: str, cluster: Any, namespace: str) -> None:
    assert result.returncode == 2, result.stderr
    assert f"error: {error}" in result.stderr.splitlines()
    assert objects_in(cluster, namespace) == {}  # nothing written


def _tune_to_image(node: str, namespace: str) -> list[str]:
    return ["tune", "phi-3", "--method", "qlora", "--node", node, "-n", namespace, "--no-progress",
            "--output-image", "myacr.azurecr.io/adapters/phi-3:1", "--push-secret", "acr-push"]


def test_push_secret_must_exist_and_be_a_registry_secret(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    missing = run(_tune_to_image(gpu_node, namespace), env)
    _refused(missing, f"--push-secret: Secret acr-push does not exist in {namespace}", cluster, namespace)
    cluster.core().create_namespaced_secret(namespace, {"metadata": {"name": "acr-push"}, "type": "Opaque", "data": {}})
    wrong = run(_tune_to_image(gpu_node, namespace), env)
    _refused(wrong, "--push-secret: Secret acr-push is of type Opaque, not kubernetes.io/dockerconfigjson", cluster, namespace)


def test_adapter_claim_must_exist(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    result = run(["deploy", "phi-3", "--node", gpu_node, "-n", namespace, "--adapter", "mine=pvc:no-such-claim"], env)
    _refused(result, f"--adapter: PersistentVolumeClaim no-such-claim does not exist in {namespace}", cluster, namespace)


def test_model_access_secret_is_checked_then_reaches_the_runtime(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    args = ["deploy", "phi-3", "--node", gpu_node, "-n", namespace, "--no-progress", "--model-access-secret", "hf"]
    _refused(run(args, env), f"--model-access-secret: Secret hf in {namespace} does not exist", cluster, namespace)
    core = cluster.core()
    core.create_namespaced_secret(namespace, {"metadata": {"name": "hf"}, "type": "Opaque", "data": {"TOKEN": "eA=="}})
    _refused(run(args, env), f"--model-access-secret: Secret hf in {namespace} has no key HF_TOKEN", cluster, namespace)
    core.patch_namespaced_secret("hf", namespace, {"data": {"HF_TOKEN": "eA=="}})
    run([*args, "--image", "myacr.azurecr.io/kaito-base:custom", "--image-pull-secret", "pull"], env).check()
    from kubernetes import client

    pod = client.AppsV1Api(cluster.api_client()).read_namespaced_stateful_set(WS, namespace).spec.template.spec
    container = pod.containers[0]
    token = next(e for e in container.env if e.name == "HF_TOKEN")
    assert (token.value_from.secret_key_ref.name, token.value_from.secret_key_ref.key) == ("hf", "HF_TOKEN")
    assert container.image == "myacr.azurecr.io/kaito-base:custom"
    assert [s.name for s in pod.image_pull_secrets] == ["pull"]


def test_users_inference_config_on_a_real_run(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    args = ["deploy", "phi-3", "--node", gpu_node, "-n", namespace, "--no-progress", "--config", "my-inference"]
    _refused(run(args, env), f"--config: ConfigMap my-inference in {namespace} does not exist", cluster, namespace)
    config = yaml.safe_dump({"vllm": {"max-model-len": 4096, "cpu-offload-gb": 0}})
    cluster.core().create_namespaced_config_map(
        namespace, {"metadata": {"name": "my-inference"}, "data": {"inference_config.yaml": config}}
    )
    run(args, env).check()
    from kubernetes import client

    pod = client.AppsV1Api(cluster.api_client()).read_namespaced_stateful_set(WS, namespace).spec.template.spec
    assert "--kaito-config-file=/mnt/config/inference_config.yaml" in pod.containers[0].args
    mounted = [v.config_map.name for v in pod.volumes if v.config_map]
    assert mounted == ["my-inference"]  # the user's ConfigMap, not a generated one
    assert f"ConfigMap/{WS}-config" not in objects_in(cluster, namespace)


def test_users_training_config_on_a_real_run(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    text = yaml.safe_dump(
        {
            "training_config": {
                "QuantizationConfig": {"load_in_4bit": True},
                "TrainingArguments": {"output_dir": "/mnt/out/run1", "num_train_epochs": 1},
            }
        }
    )
    cluster.core().create_namespaced_config_map(
        namespace, {"metadata": {"name": "my-training"}, "data": {"training_config.yaml": text}}
    )
    args = ["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "--config", "my-training",
            "--cleanup", "never", "-o", "json", "--no-progress"]
    assert run(args, env).check().json()["state"] == "Succeeded"
    from kubernetes import client

    job = client.BatchV1Api(cluster.api_client()).read_namespaced_job(f"{WS}-tuning", namespace).spec.template.spec
    trainer = job.containers[0]
    assert {e.name: e.value for e in trainer.env}["OUTPUT_DIR"] == "/mnt/out/run1"
    assert [v.config_map.name for v in job.volumes if v.config_map and v.config_map.name.startswith("my-")] == [
        "my-training"
    ]


def _kubeconfig_with_two_contexts(cluster: Any, tmp_path: Path) -> Path:
    doc = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    real = doc["contexts"][0]["name"]
    doc["clusters"].append({"name": "broken", "cluster": {"server": "https://127.0.0.1:1"}})
    doc["contexts"] = [
        {"name": "broken", "context": {"cluster": "broken", "user": real}},
        {"name": "local", "context": {"cluster": real, "user": real}},
    ]
    doc["current-context"] = "broken"
    path = tmp_path / "two-contexts.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_kubeconfig_and_context_flags_choose_the_cluster(cluster: Any, namespace: str, gpu_node: str, tmp_path: Path) -> None:
    kubeconfig = _kubeconfig_with_two_contexts(cluster, tmp_path)
    env = base_env(cluster, {"KUBECONFIG": str(tmp_path / "none.yaml")})  # the flags, not the environment
    current = run(["status", "-n", namespace, "--kubeconfig", str(kubeconfig)], env)
    assert current.returncode == 1, current.stderr  # ClusterUnreachable is an OperationFailed (core/errors.py)
    assert current.stderr.startswith("error: cannot reach the API server at https://127.0.0.1:1: ")  # its current context
    unknown = run(["status", "-n", namespace, "--kubeconfig", str(kubeconfig), "--context", "nope"], env)
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines()[:2] == [
        "error: --context: context 'nope' is not in the kubeconfig",
        "  fix: use one of: broken, local",
    ]
    chosen = ["--kubeconfig", str(kubeconfig), "--context", "local"]
    run(["deploy", "phi-3", "--node", gpu_node, "-n", namespace, "--no-progress", *chosen], env).check()
    data = run(["status", "-n", namespace, "-o", "json", *chosen], env).check().json()
    assert [(w["name"], w["state"]) for w in data["items"]] == [(WS, "Ready")]
