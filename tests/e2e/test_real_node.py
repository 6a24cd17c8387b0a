"""kaitoctl's rendered workloads on a REAL node (tests/harness/realnode.py): a kubelet, containerd and runc run
the pods, the init containers and the probes for real, with real curl/oras/skopeo in the tool images and the
stand-ins of tests/harness/standins in kaito-base. Images come from the real node's local registries under the
names kaitoctl renders.

The module has its own control plane: a real node carries nvidia.com/gpu and the sku=gpu taint, so workloads of
the other e2e files must not land on it. Never skipped in CI (CI=true / KAITOCTL_E2E=required): a machine that
cannot run the real node fails these tests with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _skip_or_fail, harness_problem
from tests.e2e.kaitoctl_cli import Background, base_env, run
from tests.harness import realnode
from tests.harness.cluster import LocalCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BASE = "phi-3-mini-128k-instruct"
RECORDS = b"".join(
    json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}).encode()
    + b"\n"
    for i in range(6)
)


@pytest.fixture(scope="module")
def real(request: pytest.FixtureRequest) -> Iterator[tuple[LocalCluster, realnode.RealNode]]:
    if problem := harness_problem():
        _skip_or_fail(problem)
    try:
        realnode.check_machine()
    except realnode.RealNodeUnavailable as e:
        _skip_or_fail(f"real node unavailable: {e}")
    cluster = LocalCluster.create(f"realnode-{os.getpid()}", system_node=True)
    failed = False
    try:
        cluster.up()
        node = realnode.RealNode.add(cluster, vm_size="Standard_NC24ads_A100_v4", gpus=1)
        yield cluster, node
        failed = request.session.testsfailed > 0
    finally:
        cluster.down(keep_state=failed or os.environ.get("KAITOCTL_KEEP_CLUSTER") == "1")


@pytest.fixture
def ns(real: tuple[LocalCluster, realnode.RealNode]) -> Iterator[str]:
    cluster, _ = real
    name = cluster.create_namespace("real")
    yield name
    cluster.delete_namespace(name)
    # One fake GPU: the next test needs it back, so wait until the kubelet has really stopped the pods.
    wait_for(lambda: not _pods(cluster, name), timeout=120, what=f"the pods of {name} gone")


@pytest.fixture
def env(real: tuple[LocalCluster, realnode.RealNode], tmp_path: Path) -> dict[str, str]:
    return base_env(real[0], {"XDG_CACHE_HOME": str(tmp_path)})


def _pods(cluster: LocalCluster, ns: str) -> list[Any]:
    return list(cluster.core().list_namespaced_pod(ns).items)


def _jobs(cluster: LocalCluster, ns: str) -> list[Any]:
    from kubernetes import client

    return list(client.BatchV1Api(cluster.api_client()).list_namespaced_job(ns).items)


def _push_secret(cluster: LocalCluster, node: realnode.RealNode, ns: str, name: str = "registry-creds") -> str:
    body = json.dumps(node.docker_config()).encode()
    cluster.core().create_namespaced_secret(ns, {
        "metadata": {"name": name}, "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(body).decode()}})
    return name


def _private(node: realnode.RealNode) -> Any:
    from tests.harness.images import Registry

    return Registry("private", f"{realnode.PRIVATE_IP}:443", node.ca,
                    auth=(realnode.REGISTRY_USER, node.registry_password))


def test_node_is_a_real_aks_like_gpu_node(real: tuple[LocalCluster, realnode.RealNode]) -> None:
    cluster, node = real
    n = cluster.core().read_node(node.name)
    labels = n.metadata.labels
    assert labels["node.kubernetes.io/instance-type"] == "Standard_NC24ads_A100_v4"
    assert labels["kubernetes.azure.com/accelerator"] == "nvidia"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-80GB-PCIe" and "type" not in labels
    assert {"key": "sku", "value": "gpu", "effect": "NoSchedule"} in [
        {"key": t.key, "value": t.value, "effect": t.effect} for t in n.spec.taints or []]
    # Advertised by the fake device plugin through the kubelet, not written into the Node by the harness.
    assert n.status.allocatable["nvidia.com/gpu"] == "1"
    assert n.status.node_info.kubelet_version == "v1.36.3"
    assert n.status.node_info.container_runtime_version.startswith("containerd://2.3")
    assert "kwok.x-k8s.io/node" not in (n.metadata.annotations or {})


def test_deploy_chat_logs_on_the_real_node(real: tuple[LocalCluster, realnode.RealNode], ns: str,
                                           env: dict[str, str]) -> None:
    cluster, node = real
    result = run(["deploy", "phi-3", "--node", node.name, "-n", ns, "-o", "json", "--no-progress"], env,
                 timeout=300).check().json()
    assert result["state"] == "Ready"
    (pod,) = _pods(cluster, ns)
    assert pod.spec.node_name == node.name
    status = pod.status.container_statuses[0]
    # A container the runtime started and the kubelet's HTTP readiness probe passed.
    assert status.ready and status.container_id.startswith("containerd://") and status.state.running
    assert pod.status.pod_ip and pod.status.pod_ip.startswith("10.89.0.")

    answer = run(["chat", "What does Kaito do?", "-n", ns], env, timeout=120).check()
    assert answer.stdout == "echo: What does Kaito do?\n"

    logs = run(["logs", BASE, "-n", ns], env, timeout=60).check().stdout
    # The server's own output, read by the kubelet from the container's log file.
    assert f"stand-in server: served model {BASE}" in logs
    assert "NVIDIA_VISIBLE_DEVICES=GPU-" in logs  # set by the device plugin's Allocate
    assert '"POST /v1/chat/completions"' in logs

    # `kaitoctl endpoint` with the official OpenAI client, through the kubelet's real port-forward (containerd
    # enters the pod's network namespace) to the server in the container.
    import openai

    proc = Background(["endpoint", "-n", ns, "--port", "0"], env)
    try:
        url = proc.wait_for_line("OPENAI_BASE_URL=", stream="stdout").strip().split("=", 1)[1]
        api = openai.OpenAI(base_url=url, api_key="not-checked", max_retries=0, timeout=120)
        assert [m.id for m in api.models.list()] == [BASE]
        question = [{"role": "user", "content": "Where do you run?"}]
        reply = api.chat.completions.create(model=BASE, messages=question)
        assert reply.choices[0].message.content == "echo: Where do you run?"
        stream = api.chat.completions.create(model=BASE, messages=question, stream=True)
        deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
        assert len(deltas) > 1 and "".join(deltas) == "echo: Where do you run?"
    finally:
        proc.interrupt()
        ended = proc.finish()
    assert ended.returncode == 0 and "Traceback" not in ended.stderr, ended.stderr


def _layer_files(node: realnode.RealNode, repo: str, tag: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest of an image in the private registry and the files of its (single) layer."""
    reg = _private(node)
    manifest = reg.manifest(repo, tag)
    assert manifest is not None, f"{realnode.PRIVATE_REGISTRY}/{repo}:{tag} is not in the registry"
    status, _, blob = reg._req("GET", f"/v2/{repo}/blobs/{manifest['layers'][0]['digest']}")
    assert status == 200
    files = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                files[member.name] = f.read()
    return manifest, files


def test_tune_from_url_to_image_then_deploy_serves_the_adapter(real: tuple[LocalCluster, realnode.RealNode],
                                                                 ns: str, env: dict[str, str]) -> None:
    cluster, node = real
    # The dataset over HTTPS from a host name the pods resolve (the real node's DNS); kaitoctl's URL checks
    # apply unchanged (a public-looking name, no private address in the URL).
    url = node.publish_data(f"train-{ns}.jsonl", RECORDS)
    secret = _push_secret(cluster, node, ns)
    repo, tag = "adapters/phi-3", ns
    image = f"{realnode.PRIVATE_REGISTRY}/{repo}:{tag}"
    tuned = run(["tune", "phi-3", "--method", "qlora", "--node", node.name, "--input-url", url,
                 "--output-image", image, "--push-secret", secret, "--cleanup", "never", "-n", ns, "-o", "json",
                 "--no-progress"],
                env, timeout=400).check().json()
    assert tuned["state"] == "Succeeded" and tuned["output"]["image"] == image

    # The real oras pusher put the adapter there, as an image whose /data holds PEFT's two files.
    manifest, files = _layer_files(node, repo, tag)
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert set(files) == {"data/adapter_config.json", "data/adapter_model.safetensors"}
    adapter_config = json.loads(files["data/adapter_config.json"])
    # The trainer read the data the real curl downloaded, and the config kaitoctl mounted (qlora: 4-bit).
    assert adapter_config["stand_in"]["data_files"] == {f"train-{ns}.jsonl": hashlib.sha256(RECORDS).hexdigest()}
    assert adapter_config["load_in_4bit"] is True

    # The trainer's real log, through kaitoctl.
    logs = run(["logs", f"{BASE}-tuning", "-n", ns], env, timeout=60).check().stdout
    assert "step 6/6" in logs and "saved adapter to /mnt/results" in logs

    # deploy with no arguments: the real skopeo puller fetches the adapter with the push secret.
    deployed = run(["deploy", "--node", node.name, "-n", ns, "-o", "json", "--no-progress"], env,
                   timeout=300).check().json()
    assert deployed["state"] == "Ready" and deployed["endpoint"]["adapters"] == [f"{BASE}-tuning"]
    answer = run(["chat", "What were you tuned on?", "-n", ns], env, timeout=120).check().stdout
    sums = "; ".join(f"{name} sha256={hashlib.sha256(files['data/' + name]).hexdigest()}"
                     for name in ("adapter_config.json", "adapter_model.safetensors"))
    # The server read exactly the bytes the trainer wrote and the pusher pushed.
    assert answer == f"echo: What were you tuned on? [adapter {BASE}-tuning read {sums}]\n"


def test_tune_to_the_default_pvc_then_deploy_from_it(real: tuple[LocalCluster, realnode.RealNode], ns: str,
                                                     env: dict[str, str]) -> None:
    cluster, node = real
    url = node.publish_data(f"pvc-{ns}.jsonl", RECORDS)
    tuned = run(["tune", "phi-3", "--method", "lora", "--node", node.name, "--input-url", url, "-n", ns, "-o", "json",
                 "--no-progress"], env, timeout=400).check().json()
    claim = f"{BASE}-tuning-adapter"
    assert tuned["state"] == "Succeeded" and tuned["output"]["claimName"] == claim
    # A real volume: the claim is bound to one of the node's local PVs, and the trainer's files are on disk.
    pvc = cluster.core().read_namespaced_persistent_volume_claim(claim, ns)
    pv = cluster.core().read_persistent_volume(pvc.spec.volume_name)
    on_disk = Path(pv.spec.local.path)
    written = {p.name: p.read_bytes() for p in on_disk.iterdir() if p.is_file()}
    assert {"adapter_config.json", "adapter_model.safetensors", "fine_tuning_completed.txt"} <= set(written)
    assert json.loads(written["adapter_config.json"])["load_in_4bit"] is False  # lora, not qlora

    deployed = run(["deploy", "--node", node.name, "-n", ns, "-o", "json", "--no-progress"], env,
                   timeout=300).check().json()
    assert deployed["state"] == "Ready" and deployed["endpoint"]["adapters"] == [f"{BASE}-tuning"]
    answer = run(["chat", "Which adapter?", "-n", ns], env, timeout=120).check().stdout
    sums = "; ".join(f"{name} sha256={hashlib.sha256(data).hexdigest()}" for name, data in sorted(written.items()))
    assert answer == f"echo: Which adapter? [adapter {BASE}-tuning read {sums}]\n"


def test_tune_from_local_files_uploads_them_once(real: tuple[LocalCluster, realnode.RealNode], ns: str,
                                                 env: dict[str, str], tmp_path: Path) -> None:
    # Issue 14 item 4: --input-file goes through the API server (pods/exec, a tar stream) into a real volume, is
    # checked there with the pod's own sha256sum, and is what the real Job's trainer reads.
    cluster, node = real
    node._create_volumes(count=8)  # this test takes two claims (input and adapter); Retain keeps used PVs away
    data = tmp_path / "dataset"
    (data / "more").mkdir(parents=True)
    (data / "train.jsonl").write_bytes(RECORDS)
    (data / "more" / "extra.jsonl").write_bytes(RECORDS[:200].rsplit(b"\n", 1)[0] + b"\n")
    args = ["tune", "phi-3", "--method", "lora", "--node", node.name, "--input-file", str(data), "--cleanup",
            "never", "-n", ns, "-o", "json", "--no-progress"]
    first = run([*args, "--no-wait"], env, timeout=400).check().json()
    phases = {p["name"]: (p["status"], p["reason"]) for p in first["phases"]}
    assert phases["Upload"] == ("True", "Uploaded")
    claim = f"{BASE}-tuning-input"
    pvc = cluster.core().read_namespaced_persistent_volume_claim(claim, ns)
    on_disk = Path(cluster.core().read_persistent_volume(pvc.spec.volume_name).spec.local.path)
    assert (on_disk / "data" / "dataset" / "train.jsonl").read_bytes() == RECORDS
    manifest = json.loads((on_disk / ".kaitoctl-manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == ["dataset/more/extra.jsonl", "dataset/train.jsonl"]

    # The same files again: the volume's manifest matches, nothing is sent; the run waits for the trainer.
    again = run(args, env, timeout=400).check().json()
    phases = {p["name"]: (p["status"], p["reason"]) for p in again["phases"]}
    assert again["state"] == "Succeeded" and phases["Upload"] == ("True", "Unchanged")
    adapter = cluster.core().read_namespaced_persistent_volume_claim(f"{BASE}-tuning-adapter", ns)
    written = Path(cluster.core().read_persistent_volume(adapter.spec.volume_name).spec.local.path)
    read = json.loads((written / "adapter_config.json").read_text())["stand_in"]["data_files"]
    # The trainer saw the uploaded files only (subPath data/): not kaitoctl's manifest or checksums.
    assert read == {f"dataset/{name}": hashlib.sha256((data / name).read_bytes()).hexdigest()
                    for name in ("train.jsonl", "more/extra.jsonl")}
    # The upload pod was deleted (its grace period is 1 s): it goes.
    wait_for(lambda: not [p for p in _pods(cluster, ns) if p.metadata.name.endswith("-upload")], timeout=60,
             what="the upload pod gone")


def test_tune_from_a_private_dataset_image_pulled_by_skopeo(real: tuple[LocalCluster, realnode.RealNode], ns: str,
                                                           env: dict[str, str]) -> None:
    from tests.harness.images import Rootfs

    cluster, node = real
    # A dataset image as users build one: /data/train.jsonl in a layer, in a registry that refuses anonymous pulls.
    rootfs = Rootfs()
    rootfs.add_bytes("data/train.jsonl", RECORDS)
    _private(node).push_image("datasets/phi", ns, [rootfs.layer(realnode.VAR_ROOT / "layers")], {"config": {}})
    anonymous = _private(node)
    anonymous.auth = None
    assert anonymous.manifest("datasets/phi", ns) is None  # 401 without the secret
    secret = _push_secret(cluster, node, ns, "pull-creds")
    image = f"{realnode.PRIVATE_REGISTRY}/datasets/phi:{ns}"
    tuned = run(["tune", "phi-3", "--method", "lora", "--node", node.name, "--input-image", image,
                 "--image-pull-secret", secret, "--cleanup", "never", "-n", ns, "-o", "json", "--no-progress"],
                env, timeout=400).check().json()
    assert tuned["state"] == "Succeeded"
    init_logs = run(["logs", f"{BASE}-tuning", "--init", "-n", ns], env, timeout=60).check().stdout
    assert f"copied /data of {image} to /mnt/data" in init_logs  # the real skopeo puller, with the secret
    logs = run(["logs", f"{BASE}-tuning", "-n", ns], env, timeout=60).check().stdout
    assert "loaded 6 records from 1 file(s): ['train.jsonl']" in logs


def test_image_that_does_not_exist_fails_with_image_pull_backoff(real: tuple[LocalCluster, realnode.RealNode],
                                                                 ns: str, env: dict[str, str]) -> None:
    _, node = real
    result = run(["deploy", "phi-3", "--node", node.name, "--image", "mcr.microsoft.com/aks/kaito/kaito-base:0.0.0-missing",
                  "-n", ns, "-o", "json", "--no-progress"], env, timeout=240)
    assert result.returncode == 1, result.stderr
    assert result.json()["error"]["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert "0.0.0-missing" in result.stderr  # the runtime's own message names the image


def test_server_that_exits_fails_with_crash_loop_and_its_last_lines(real: tuple[LocalCluster, realnode.RealNode],
                                                                  ns: str, env: dict[str, str]) -> None:
    cluster, node = real
    # The user's own inference config sets a GPU memory share above 1: the server refuses it at start-up and
    # exits 1, as vLLM does; the kubelet restarts it until CrashLoopBackOff.
    cluster.core().create_namespaced_config_map(ns, {
        "metadata": {"name": "bad-config"},
        "data": {"inference_config.yaml": "vllm:\n  gpu-memory-utilization: 1.5\n"}})
    result = run(["deploy", "phi-3", "--node", node.name, "--config", "bad-config", "-n", ns, "-o", "json",
                  "--no-progress"], env, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.json()["error"]["reason"] == "CrashLoopBackOff"
    # The container's real last lines, from the kubelet.
    assert "GPU memory utilization must be less than 1.0. Got 1.5." in result.stderr


def test_trainer_that_fails_ends_with_job_failed_and_its_log_tail(real: tuple[LocalCluster, realnode.RealNode],
                                                                ns: str, env: dict[str, str]) -> None:
    _, node = real
    url = node.publish_data(f"broken-{ns}.jsonl", b'{"messages": []}\nthis is not json\n')
    result = run(["tune", "phi-3", "--method", "qlora", "--node", node.name, "--input-url", url, "-n", ns,
                  "-o", "json", "--no-progress"], env, timeout=400)
    assert result.returncode == 1, result.stderr
    assert result.json()["error"]["reason"] == "JobFailed"
    assert f"broken-{ns}.jsonl line 2 is not a JSON record" in result.stderr


def test_interrupted_during_a_real_init_container_then_rerun_converges(
        real: tuple[LocalCluster, realnode.RealNode], ns: str, env: dict[str, str]) -> None:
    cluster, node = real
    node.publish_data(f"slow-{ns}.jsonl", RECORDS)
    # The data downloader's curl is still waiting for this answer when kaitoctl is interrupted.
    url = f"https://{realnode.DATA_HOST}/slow/25/slow-{ns}.jsonl"
    args = ["tune", "phi-3", "--method", "qlora", "--node", node.name, "--input-url", url, "--cleanup", "never",
            "-n", ns, "--no-progress"]
    proc = Background(args, env)

    def in_init() -> bool:
        pods = _pods(cluster, ns)
        return bool(pods) and any(s.state.running for s in pods[0].status.init_container_statuses or []
                                  if s.name == "data-downloader")

    wait_for(in_init, timeout=120, what="the data-downloader init container running")
    proc.interrupt()
    interrupted = proc.finish(timeout=60)
    assert interrupted.returncode == 130, interrupted.stderr
    (job,) = _jobs(cluster, ns)
    again = run([*args, "-o", "json"], env, timeout=400).check().json()
    assert again["state"] == "Succeeded"
    # The re-run waited for the same Job (its init container was never restarted by kaitoctl) to finish.
    (after,) = _jobs(cluster, ns)
    assert after.metadata.uid == job.metadata.uid and after.status.succeeded == 1
    (pod,) = [p for p in _pods(cluster, ns) if p.status.phase == "Succeeded"]
    downloader = next(s for s in pod.status.init_container_statuses if s.name == "data-downloader")
    assert downloader.state.terminated and downloader.state.terminated.exit_code == 0
