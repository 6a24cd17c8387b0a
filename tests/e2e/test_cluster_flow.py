"""deploy / tune / apply / status / logs / delete on the real local control plane (kwok GPU nodes).

Every test runs the kaitoctl CLI as a subprocess in its own namespace; pod behaviour (ready, failing, pulling,
crash-looping, OOM-killed) comes from kwok stages, so diagnosis is checked against real status objects.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kaitoctl_cli import Background, base_env, objects_in, run, written_state

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
A100 = "Standard_NC24ads_A100_v4"


@pytest.fixture
def env(cluster: Any) -> dict[str, str]:
    return base_env(cluster)


@pytest.fixture
def gpu_node(cluster: Any) -> str:
    name = cluster.add_gpu_node(vm_size=A100, pool="gpu")
    yield name
    cluster.delete_node(name)


def _deploy(node: str, namespace: str, *extra: str) -> list[str]:
    return ["deploy", "phi-3", "--node", node, "-n", namespace, "--no-progress", *extra]


def _pods(cluster: Any, namespace: str) -> list[Any]:

    return cluster.core().list_namespaced_pod(namespace).items


# ---- deploy ------------------------------------------------------------------------------------------------------


def test_deploy_lands_on_the_gpu_node_and_reports_ready(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    result = run([*_deploy(gpu_node, namespace), "-o", "json"], env).check()
    data = result.json()
    assert data["workspace"] == "phi-3-mini-128k-instruct" and data["state"] == "Ready"
    assert [p["name"] for p in data["phases"]] == ["Apply", "ResourceReady", "InferenceReady", "WorkspaceSucceeded"]
    assert all(p["status"] == "True" and p["durationSeconds"] is not None for p in data["phases"])
    assert data["endpoint"]["service"] == "phi-3-mini-128k-instruct" and data["endpoint"]["model"] == "phi-3-mini-128k-instruct"
    assert data["plan"]["instanceType"] == A100  # sized from the node, not the smallest SKU
    pods = _pods(cluster, namespace)
    assert [p.spec.node_name for p in pods] == [gpu_node]
    assert pods[0].spec.containers[0].resources.requests["nvidia.com/gpu"] == "1"


def test_json_output_is_exactly_one_object_and_progress_is_plain_lines(namespace: str, env: dict[str, str], gpu_node: str) -> None:
    result = run([*_deploy(gpu_node, namespace), "-o", "json"], env).check()
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document, nothing else
    assert {"workspace", "namespace", "action", "plan", "phases", "objects", "endpoint", "state", "durationSeconds"} <= set(data)
    assert "error" not in data
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
    assert lines and all(stamp.match(line) for line in lines), result.stderr
    assert "\x1b[" not in result.stderr  # no terminal escapes when stderr is not a TTY


def test_rerun_changes_no_resource_version(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    run(_deploy(gpu_node, namespace), env).check()
    before = written_state(cluster, namespace)
    mark = cluster.audit_mark()
    again = run(_deploy(gpu_node, namespace), env).check()
    assert written_state(cluster, namespace) == before
    writes = [
        e for e in cluster.requests("kaitoctl", since=mark)
        if e["verb"] in ("create", "update", "delete") or (e["verb"] == "patch" and "dryRun" not in e["requestURI"] and e["responseStatus"]["code"] == 201)
    ]
    assert writes == [], writes
    final = {}
    for line in again.stderr.splitlines():  # `<time> <phase> <status> ...`: the last status of each phase
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("Apply", "ResourceReady", "InferenceReady", "WorkspaceSucceeded"):
            final[parts[1]] = parts[2]
    assert final == {"Apply": "True", "ResourceReady": "True", "InferenceReady": "True", "WorkspaceSucceeded": "True"}


def test_request_budget_per_deploy_and_tune(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    mark = cluster.audit_mark()
    run(_deploy(gpu_node, namespace), env).check()
    deploy_requests = cluster.requests("kaitoctl", since=mark)
    assert 0 < len(deploy_requests) <= 40, [f"{e['verb']} {e['requestURI']}" for e in deploy_requests]
    run(["delete", "--all", "-y", "-n", namespace, "--no-progress"], env).check()
    mark = cluster.audit_mark()
    run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "--no-progress"], env).check()
    tune_requests = cluster.requests("kaitoctl", since=mark)
    assert 0 < len(tune_requests) <= 60, [f"{e['verb']} {e['requestURI']}" for e in tune_requests]


def test_label_selector_on_existing_nodes(cluster: Any, namespace: str, env: dict[str, str]) -> None:
    node = cluster.add_gpu_node(vm_size="Standard_NV36ads_A10_v5", labels={"apps": f"sel-{namespace}"})
    try:
        result = run(["deploy", "phi-3", "--label", f"apps=sel-{namespace}", "--no-pool", "-n", namespace, "-o", "json"], env).check()
        assert result.json()["plan"]["placement"]["mode"] == "selector"
        assert [p.spec.node_name for p in _pods(cluster, namespace)] == [node]
    finally:
        cluster.delete_node(node)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "node(s) not found: no-such-node"),
        ("not-gpu", "cannot tell the GPUs"),
        ("busy", "free nvidia.com/gpu needed"),
        ("no-plugin", "0 of 0 free"),
    ],
)
def test_existing_node_problems_fail_before_writing(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str, setup: str, message: str) -> None:
    extra_nodes = []
    node = gpu_node
    if setup == "missing":
        node = "no-such-node"
    elif setup == "not-gpu":
        node = cluster.add_cpu_node()
        extra_nodes.append(node)
    elif setup == "busy":
        run(_deploy(gpu_node, namespace, "--name", "first"), env).check()
    elif setup == "no-plugin":
        node = cluster.add_gpu_node(vm_size=A100, device_plugin=False)
        extra_nodes.append(node)
    before = written_state(cluster, namespace)
    try:
        result = run(_deploy(node, namespace, "--name", "second"), env)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "fix:" in result.stderr
        assert written_state(cluster, namespace) == before  # nothing written
    finally:
        for extra in extra_nodes:
            cluster.delete_node(extra)


def test_immutable_change_is_refused_unless_recreate(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    other = cluster.add_gpu_node(vm_size="Standard_NV36ads_A10_v5")
    try:
        run(_deploy(gpu_node, namespace), env).check()
        before = written_state(cluster, namespace)
        refused = run(_deploy(other, namespace), env)
        assert refused.returncode == 2
        assert "resource.instanceType" in refused.stderr and "--recreate" in refused.stderr
        assert written_state(cluster, namespace) == before
        run([*_deploy(other, namespace), "--recreate"], env).check()
        assert [p.spec.node_name for p in _pods(cluster, namespace)] == [other]
        recreated = written_state(cluster, namespace)
        assert recreated["StatefulSet/phi-3-mini-128k-instruct"] != before["StatefulSet/phi-3-mini-128k-instruct"]
    finally:
        cluster.delete_node(other)


def test_mutable_change_updates_in_place(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(cluster.api_client())
    run(_deploy(gpu_node, namespace), env).check()
    before = apps.read_namespaced_stateful_set("phi-3-mini-128k-instruct", namespace)
    assert "--max-model-len=auto" in before.spec.template.spec.containers[0].args
    run([*_deploy(gpu_node, namespace), "--max-model-len", "8192"], env).check()
    sts = apps.read_namespaced_stateful_set("phi-3-mini-128k-instruct", namespace)
    assert sts.metadata.uid == before.metadata.uid  # updated, not deleted and recreated
    assert sts.metadata.generation == before.metadata.generation + 1
    args = sts.spec.template.spec.containers[0].args
    # Kaito v0.12 always passes --max-model-len=auto for vLLM and appends the config file after it, so the file's
    # max-model-len wins (issue 9 item 1): both are present, the file last.
    assert args.index("--kaito-config-file=/mnt/config/inference_config.yaml") > args.index("--max-model-len=auto")
    config = cluster.core().read_namespaced_config_map("phi-3-mini-128k-instruct-config", namespace)
    assert yaml.safe_load(config.data["inference_config.yaml"])["vllm"]["max-model-len"] == 8192


# ---- failure reasons ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behavior", "kwargs", "reason"),
    [
        ("image-pull-backoff", {}, "ImagePullBackOff"),
        ("crash-loop", {"exit_code": 3}, "CrashLoopBackOff"),
        ("oom-killed", {}, "OOMKilled"),
    ],
)
def test_inference_failures_end_the_wait_with_exit_1(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str, behavior: str, kwargs: dict[str, Any], reason: str) -> None:
    cluster.set_pod_behavior(namespace, behavior, **kwargs)
    if behavior == "crash-loop":
        lines = ["loading weights", "RuntimeError: CUDA error: no kernel image is available"]
        cluster.serve_logs(namespace, lines, previous=lines)
    result = run([*_deploy(gpu_node, namespace), "-o", "json"], env, timeout=120)
    assert result.returncode == 1, result.stderr
    error = result.json()["error"]
    assert error["reason"] == reason and error["exitCode"] == 1  # the diagnosis ended the wait, not the timeout
    if behavior == "crash-loop":
        assert "no kernel image is available" in result.stderr  # the last log lines are shown


def test_unschedulable_is_reported_with_the_schedulers_message(cluster: Any, namespace: str, env: dict[str, str]) -> None:
    node = cluster.add_gpu_node(vm_size=A100, taints=[{"key": "dedicated", "value": "other", "effect": "NoSchedule"}])
    try:
        result = run(["deploy", "phi-3", "--node", node, "-n", namespace, "--no-progress"], env, timeout=120)
        assert result.returncode == 1
        assert "Unschedulable" in result.stderr and "untolerated taint" in result.stderr
    finally:
        cluster.delete_node(node)


def test_pods_refused_by_admission_fail_with_the_controllers_warning(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    """A ResourceQuota of 0 pods: the StatefulSet gets no pods. The waiter reads Warning events only once pods fail
    to appear (ops/wait.py EVENTS_AFTER_S), finds the controller's FailedCreate and ends the wait after its grace."""
    quota = {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    cluster.core().create_namespaced_resource_quota(namespace, quota)
    result = run([*_deploy(gpu_node, namespace), "-o", "json"], env, timeout=120)
    assert result.returncode == 1, result.stderr
    error = result.json()["error"]
    assert error["reason"] == "FailedCreate" and "forbidden" in error["message"], error


def test_failed_tuning_job_reports_the_log_tail(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "job-fail", exit_code=1)
    cluster.serve_logs(namespace, ["Loading dataset", "ValueError: dataset has no 'messages' column"])
    result = run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "-o", "json", "--no-progress"], env, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.json()["error"]["reason"] == "JobFailed"
    assert "no 'messages' column" in result.stderr
    status = run(["status", "-n", namespace, "-o", "json"], env).check().json()
    assert status["items"][0]["state"] == "Failed"
    # Re-running after a failure trains again (a new Job), instead of reporting the old failure.
    cluster.clear_pod_behaviors(namespace)
    again = run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "-o", "json", "--no-progress"], env, timeout=120)
    assert again.check().json()["state"] == "Succeeded"


def test_timeout_exits_3_naming_the_phase(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "not-ready")
    result = run([*_deploy(gpu_node, namespace), "--timeout", "4s", "-o", "json"], env)
    assert result.returncode == 3
    assert result.json()["error"]["type"] == "WaitTimeout" and "InferenceReady" in result.json()["error"]["message"]


# ---- tune ---------------------------------------------------------------------------------------------------------


def test_tune_reports_progress_and_where_the_adapter_went(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "job-running", delay_s=8, then="succeed")
    log = cluster.serve_logs(namespace, ["{'loss': 1.9}", " 10%|█         | 5/50 [00:01<00:09,  4.9it/s]", " 40%|████      | 20/50 [00:04<00:06,  4.9it/s]"])
    result = run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "-o", "json", "--no-progress"], env, timeout=120).check()
    data = result.json()
    assert data["state"] == "Succeeded"
    assert data["output"]["volume"] == "pvc:phi-3-mini-128k-instruct-tuning-adapter"
    assert "step 20/50" in result.stderr, result.stderr  # the last step the trainer printed
    assert Path(log).exists()
    # --cleanup on-success: the Job is gone, the adapter claim and the record stay
    left = objects_in(cluster, namespace)
    assert not any(k.startswith("Job/") for k in left)
    assert "PersistentVolumeClaim/phi-3-mini-128k-instruct-tuning-adapter" in left
    again = run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "-o", "json"], env).check()
    assert again.json()["state"] == "Succeeded" and "already succeeded" in again.stderr


def test_deploy_without_preset_serves_the_tuned_adapter(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    none = run(["deploy", "-n", namespace, "--node", gpu_node], env)
    assert none.returncode == 2 and "no successful kaitoctl tuning run" in none.stderr
    run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace], env).check()
    result = run(["deploy", "-n", namespace, "--node", gpu_node, "-o", "json"], env).check()
    assert result.json()["endpoint"]["adapters"] == ["phi-3-mini-128k-instruct-tuning"]
    from kubernetes import client

    sts = client.AppsV1Api(cluster.api_client()).read_namespaced_stateful_set("phi-3-mini-128k-instruct", namespace)
    claims = [v.persistent_volume_claim.claim_name for v in sts.spec.template.spec.volumes if v.persistent_volume_claim]
    assert claims == ["phi-3-mini-128k-instruct-tuning-adapter"]


def test_several_tuning_runs_need_a_choice(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace], env).check()
    run(["tune", "phi-3.5-mini", "--method", "lora", "--name", "second-tune", "--node", gpu_node, "-n", namespace], env).check()
    several = run(["deploy", "-n", namespace, "--node", gpu_node], env)
    assert several.returncode == 2
    assert "2 successful tuning runs" in several.stderr and "--from-tuning second-tune" in several.stderr
    assert "phi-3-mini-128k-instruct-tuning" in several.stderr  # both are listed
    chosen = run(["deploy", "--from-tuning", "phi-3-mini-128k-instruct-tuning", "-n", namespace, "--node", gpu_node, "-o", "json"], env)
    assert chosen.check().json()["endpoint"]["model"] == "phi-3-mini-128k-instruct"


def test_apply_v1beta1_yaml_behaves_like_the_flags(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str, tmp_path: Path) -> None:
    doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
    doc["resource"]["preferredNodes"] = [gpu_node]
    path = tmp_path / "unlabelled.yaml"
    path.write_text(yaml.safe_dump(doc))
    refused = run(["apply", "-f", str(path), "-n", namespace], env)
    assert refused.returncode == 2 and "does not carry the selector's labels" in refused.stderr
    node = cluster.add_gpu_node(vm_size=A100, labels={"apps": "phi-4-mini"})
    doc["resource"]["preferredNodes"] = [node]
    path = tmp_path / "ws.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        data = run(["apply", "-f", str(path), "-n", namespace, "-o", "json"], env).check().json()
        assert data["workspace"] == "workspace-phi-4-mini" and data["state"] == "Ready"
        assert data["endpoint"]["model"] == "phi-4-mini-instruct"
    finally:
        cluster.delete_node(node)


def test_apply_a_directory_runs_each_workspace_and_lists_the_results(cluster: Any, namespace: str, env: dict[str, str], tmp_path: Path) -> None:
    """kubectl-style -f DIR: every Workspace in turn; -o json is a List with one RunResult per workspace."""
    nodes = [cluster.add_gpu_node(vm_size=A100, labels={"apps": "phi-4-mini"}) for _ in range(2)]
    try:
        folder = tmp_path / "workspaces"
        folder.mkdir()
        for name, node in zip(("first", "second"), nodes, strict=True):  # one GPU each
            doc = yaml.safe_load((FIXTURES / "v1beta1-inference-phi-4-mini.yaml").read_text())
            doc["metadata"]["name"] = name
            doc["resource"]["preferredNodes"] = [node]
            (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        data = run(["apply", "-f", str(folder), "-n", namespace, "-o", "json", "--no-progress"], env, timeout=180).check().json()
        assert (data["kind"], [r["kind"] for r in data["items"]]) == ("List", ["RunResult", "RunResult"])
        assert [(r["workspace"], r["state"]) for r in data["items"]] == [("first", "Ready"), ("second", "Ready")]
    finally:
        for node in nodes:
            cluster.delete_node(node)


def test_apply_v1alpha1_cookbook_yaml(cluster: Any, namespace: str, env: dict[str, str], tmp_path: Path) -> None:
    """The Phi-3 cookbook's tuning workspace, placeholders filled in as its readers do, with a current SKU."""
    node = cluster.add_gpu_node(vm_size=A100, labels={"app": "tuning-phi-3"})
    try:
        from kubernetes import client

        cluster.core().create_namespaced_secret(
            namespace,
            {
                "metadata": {"name": "acr-push"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": "eyJhdXRocyI6e319"},
            },
        )
        text = (FIXTURES / "cookbook-tuning-phi-3.yaml").read_text()
        text = text.replace("ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "myacr.azurecr.io/adapters/phi-3:0.0.1")
        text = text.replace("ACR_REGISTRY_SECRET_HERE", "acr-push")
        path = tmp_path / "cookbook.yaml"
        path.write_text(text)
        refused = run(["apply", "-f", str(FIXTURES / "cookbook-tuning-phi-3.yaml"), "-n", namespace, "--no-pool"], env)
        assert refused.returncode == 2 and "retired" in refused.stderr  # NC6s_v3 cannot be provisioned
        data = run(
            ["apply", "-f", str(path), "--instance-type", A100, "--no-pool", "-n", namespace, "-o", "json", "--cleanup", "never"],
            env,
            timeout=120,
        ).check().json()
        assert data["state"] == "Succeeded" and data["output"]["image"] == "myacr.azurecr.io/adapters/phi-3:0.0.1"
        job = client.BatchV1Api(cluster.api_client()).read_namespaced_job("workspace-tuning-phi-3", namespace)
        assert [c.name for c in job.spec.template.spec.containers] == ["workspace-tuning-phi-3", "pusher"]
    finally:
        cluster.delete_node(node)


# ---- interruptions and the API server -----------------------------------------------------------------------------


def test_sigint_while_waiting_then_rerun_converges(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "not-ready")
    proc = Background(_deploy(gpu_node, namespace), env)
    proc.wait_for_line("InferenceReady     InProgress")
    proc.interrupt()
    result = proc.finish()
    assert result.returncode == 130, result.stderr
    assert "re-run the same command" in result.stderr
    cluster.clear_pod_behaviors(namespace)

    cluster.core().delete_namespaced_pod("phi-3-mini-128k-instruct-0", namespace)
    run(_deploy(gpu_node, namespace), env, timeout=120).check()
    kinds = sorted(k.split("/")[0] for k in objects_in(cluster, namespace))
    assert kinds == ["ConfigMap", "Pod", "Service", "Service", "StatefulSet"]  # no duplicates


def test_sigint_during_training_then_rerun_converges(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "job-running", delay_s=6, then="succeed")
    args = ["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "--no-progress"]
    proc = Background(args, env)
    proc.wait_for_line("JobStarted         True")
    proc.interrupt()
    assert proc.finish().returncode == 130
    result = run([*args, "-o", "json"], env, timeout=120).check()
    assert result.json()["state"] == "Succeeded"
    assert sum(1 for k in objects_in(cluster, namespace) if k.startswith("PersistentVolumeClaim/")) == 1


def test_api_server_restart_during_a_wait(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    cluster.set_pod_behavior(namespace, "not-ready")
    proc = Background(_deploy(gpu_node, namespace), env)
    proc.wait_for_line("InferenceReady     InProgress")
    cluster.stop_apiserver()
    proc.wait_for_line("APIUnavailable", timeout=30)
    time.sleep(1)
    cluster.start_apiserver()
    cluster.clear_pod_behaviors(namespace)

    cluster.core().delete_namespaced_pod("phi-3-mini-128k-instruct-0", namespace)
    result = proc.finish(timeout=90)
    assert result.returncode == 0, result.stderr
    assert "WorkspaceSucceeded True" in re.sub(r"\s+", " ", result.stderr)


# ---- status, logs, delete -----------------------------------------------------------------------------------------


def test_status_table_json_yaml_and_watch(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    run(_deploy(gpu_node, namespace), env).check()
    mark = cluster.audit_mark()
    table = run(["status", "-n", namespace], env).check()
    assert len(cluster.requests("kaitoctl", since=mark)) <= 5  # list calls, not a get per object
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "INSTANCE", "RESOURCEREADY", "INFERENCEREADY", "JOBSTARTED", "WORKSPACESUCCEEDED", "AGE"]
    assert row.split()[:5] == ["phi-3-mini-128k-instruct", A100, "True", "True", "True"]
    data = run(["status", "-n", namespace, "-o", "json"], env).check().json()
    assert data["items"][0]["state"] == "Ready"
    assert yaml.safe_load(run(["status", "-n", namespace, "-o", "yaml"], env).check().stdout) == data
    assert run(["status", "nope", "-n", namespace], env).returncode == 1
    other = cluster.add_gpu_node(vm_size=A100)
    watch = Background(["status", "-n", namespace, "--watch"], env)
    try:
        watch.wait_for_line("phi-3-mini-128k-instruct", stream="stdout")  # the first table: the watch is on
        run(_deploy(other, namespace, "--name", "second", "--no-wait"), env).check()
        watch.wait_for_line("second", stream="stdout")  # the new workspace appears without a restart
    finally:
        watch.interrupt()
        cluster.delete_node(other)
    assert watch.finish().returncode == 130


def test_logs_pick_the_server_and_follow(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    run(_deploy(gpu_node, namespace), env).check()
    log = cluster.serve_logs(namespace, ["INFO: Started server process", "INFO: Uvicorn running on http://0.0.0.0:5000"])
    out = run(["logs", "phi-3-mini-128k-instruct", "-n", namespace], env).check().stdout
    assert "Uvicorn running" in out
    assert run(["logs", "phi-3-mini-128k-instruct", "-n", namespace, "--tail", "1"], env).check().stdout.strip().endswith("5000")
    follow = Background(["logs", "phi-3-mini-128k-instruct", "-n", namespace, "-f"], env)
    follow.wait_for_line("Uvicorn running", stream="stdout")  # the existing lines came: the stream is open
    from tests.harness.cluster import append_log_lines

    append_log_lines(log, ["INFO: GET /health 200"])
    assert follow.wait_for_line("GET /health 200", stream="stdout") == "INFO: GET /health 200\n"
    follow.interrupt()
    assert follow.finish().returncode == 130


def test_delete_removes_everything_and_needs_yes_without_a_tty(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:
    # a finished tuning run (its Job kept) and an inference workspace on the freed GPU
    run(["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "--cleanup", "never"], env).check()
    run(_deploy(gpu_node, namespace), env).check()
    refused = run(["delete", "phi-3-mini-128k-instruct", "-n", namespace], env, stdin="")
    assert refused.returncode == 2 and "-y" in refused.stderr
    run(["delete", "phi-3-mini-128k-instruct", "-n", namespace, "-y"], env).check()
    left = objects_in(cluster, namespace)
    assert left and all("tuning" in k for k in left)  # only the other workspace is left
    run(["delete", "--all", "-n", namespace, "-y", "-o", "json"], env).check()
    assert objects_in(cluster, namespace) == {}
    missing = run(["delete", "nope", "-n", namespace, "-y"], env)
    assert missing.returncode == 1 and "no kaitoctl workspace" in missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["tune", "phi-3", "--method", "qlora"],
        ["deploy", "phi-3", "--max-model-len", "8192", "--adapter", "a=myacr.azurecr.io/ad:1"],
        ["apply", "-f", str(FIXTURES / "cookbook-tuning-phi-3.yaml"), "--instance-type", A100],
    ],
    ids=["tune", "deploy", "cookbook"],
)
def test_dry_run_output_is_accepted_by_kubectl(cluster: Any, namespace: str, env: dict[str, str], args: list[str]) -> None:
    import subprocess

    # The cookbook's placeholders (ACR_REPO_HERE, ...) would stop a real run: exit 2, the manifests still printed.
    code = 2 if args[0] == "apply" else 0
    manifests = run([*args, "-n", namespace, "--dry-run", "-o", "yaml"], env).check(code).stdout
    as_list = run([*args, "-n", namespace, "--dry-run", "-o", "json"], env).check(code).stdout  # a v1 List
    kubectl = str(Path(cluster.env()["PATH"].split(":")[0]) / "kubectl")
    for mode, text in (("client", manifests), ("server", manifests), ("client", as_list)):
        proc = subprocess.run(
            [kubectl, "apply", f"--dry-run={mode}", "-f", "-"], input=text, capture_output=True, text=True, env=env
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("created") == len(list(yaml.safe_load_all(manifests)))


def test_sigint_before_the_job_starts_then_rerun_converges(cluster: Any, namespace: str, env: dict[str, str], gpu_node: str) -> None:

    cluster.set_pod_behavior(namespace, "container-creating")
    args = ["tune", "phi-3", "--method", "qlora", "--node", gpu_node, "-n", namespace, "--no-progress"]
    proc = Background(args, env)
    proc.wait_for_line("ContainerCreating")
    proc.interrupt()
    result = proc.finish()
    assert result.returncode == 130 and "interrupted during JobStarted" in result.stderr
    cluster.clear_pod_behaviors(namespace)
    core = cluster.core()
    for pod in core.list_namespaced_pod(namespace).items:  # an event, so kwok looks at the pod again
        core.patch_namespaced_pod(pod.metadata.name, namespace, {"metadata": {"annotations": {"nudge": "1"}}})
    assert run([*args, "-o", "json"], env, timeout=120).check().json()["state"] == "Succeeded"
    assert sum(1 for k in objects_in(cluster, namespace) if k.startswith("ConfigMap/")) == 1  # record only; params cleaned
