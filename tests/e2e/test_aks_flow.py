"""AKS GPU node pools: kaitoctl drives the real Azure SDK against the wire-level ARM emulator, whose pools become
kwok nodes in the local control plane (labels, taint, GPUs after the NVIDIA device plugin runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaitoctl.core.naming import pool_name
from tests.e2e.kaitoctl_cli import Background, base_env, objects_in, run, wait_until
from tests.harness.aks_emulator import Fault

pytestmark = [pytest.mark.e2e, pytest.mark.azure]

A10 = "Standard_NV36ads_A10_v5"


@pytest.fixture
def emu(cluster: Any, make_arm_emulator: Any) -> Any:
    return make_arm_emulator(cluster.kubeconfig, operation_seconds=1.0)


@pytest.fixture
def env(cluster: Any, emu: Any) -> dict[str, str]:
    return base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "0.1"})


def _nodes_of(cluster: Any, pool: str) -> list[Any]:

    core = cluster.core()
    return core.list_node(label_selector=f"kubernetes.azure.com/agentpool={pool}").items


def _pool_props(emu: Any, name: str) -> dict[str, Any]:
    pool = emu.pools().get(name)
    assert pool is not None, f"no pool {name}: {list(emu.pools())}"
    return pool["properties"]


def test_deploy_creates_a_pool_and_lands_on_its_nodes(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str], tmp_path: Path
) -> None:
    step_summary = tmp_path / "step-summary.md"  # as on a GitHub Actions runner
    result = run(["deploy", "phi-3", "-n", namespace, "-o", "json", "--no-progress"], {**env, "GITHUB_STEP_SUMMARY": str(step_summary)}, timeout=120).check()
    data = result.json()
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    assert {k: data["pool"][k] for k in ("name", "action")} == {"name": name, "action": "create"}
    assert data["pool"]["usdPerHour"] > 0  # the emulator's retail price for the SKU
    summary = step_summary.read_text()
    assert summary.startswith(f"### kaitoctl deploy `phi-3-mini-128k-instruct` in `{namespace}`: Ready")
    assert f"| cost | ${data['pool']['usdPerHour']:.2f}/h |" in summary and f"| node pool | {name} (create) |" in summary
    assert data["phases"][0]["name"] == "NodePool" and data["phases"][0]["status"] == "True"
    props = _pool_props(emu, name)
    # Without --instance-type the cheapest SKU that fits (the emulator's prices; tests/e2e/test_sku_choice.py).
    assert props["vmSize"] == data["plan"]["ranking"][0]["instanceType"] == data["plan"]["instanceType"]
    assert props["count"] == 1 and props["mode"] == "User"
    assert props["nodeTaints"] == ["sku=gpu:NoSchedule"]
    assert props["nodeLabels"]["kaitoctl.io/workspace"] == "phi-3-mini-128k-instruct"
    assert not any(k.startswith("kaito.sh/") for k in props["nodeLabels"])
    assert props["tags"]["managed-by"] == "kaitoctl" and props["osDiskSizeGB"] >= 87
    nodes = _nodes_of(cluster, name)
    assert len(nodes) == 1 and nodes[0].status.allocatable["nvidia.com/gpu"] == "1"  # after the device plugin ran
    from kubernetes import client

    pods = cluster.core().list_namespaced_pod(namespace).items
    assert [p.spec.node_name for p in pods] == [nodes[0].metadata.name]
    ds = (
        client.AppsV1Api(cluster.api_client())
        .list_daemon_set_for_all_namespaces(field_selector="metadata.name=nvidia-device-plugin-daemonset")
        .items
    )
    assert len(ds) == 1
    assert "cost: $" in result.stderr and "/h" in result.stderr


def test_pipelining_notices_nodes_before_the_operation_ends(
    cluster: Any, namespace: str, make_arm_emulator: Any
) -> None:
    # The pool operation takes 20 s and its nodes are ready after 1 s: the workload must be Ready (found by the
    # Node watch) while ARM still reports the operation running. An order of events, not a wall-clock bound.
    emu = make_arm_emulator(cluster.kubeconfig, operation_seconds=20.0, nodes_ready_after_s=1.0)
    env = base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "2"})
    proc = Background(["deploy", "phi-3", "-n", namespace, "--no-progress", "-o", "json"], env)
    proc.wait_for_line("InferenceReady     True", timeout=120)
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    assert _pool_props(emu, name)["provisioningState"] != "Succeeded"
    result = proc.finish(timeout=120).check()
    assert _pool_props(emu, name)["provisioningState"] == "Succeeded"
    phases = {p["name"]: p for p in result.json()["phases"]}
    assert phases["ResourceReady"]["status"] == phases["InferenceReady"]["status"] == "True"


def test_delete_removes_pool_and_nodes(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    assert _nodes_of(cluster, name)
    run(["delete", "phi-3-mini-128k-instruct", "-n", namespace, "-y"], env, timeout=120).check()
    assert name not in emu.pools()
    assert _nodes_of(cluster, name) == []
    assert objects_in(cluster, namespace) == {}


def test_keep_pool_scales_to_zero_and_redeploy_scales_it_back(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    run(["delete", "phi-3-mini-128k-instruct", "-n", namespace, "-y", "--keep-pool"], env, timeout=120).check()
    assert _pool_props(emu, name)["count"] == 0 and _nodes_of(cluster, name) == []
    data = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert data["pool"]["action"] == "scale"
    assert _pool_props(emu, name)["count"] == 1 and len(_nodes_of(cluster, name)) == 1
    puts = emu.requests(method="PUT", path=name)
    assert len(puts) == 3  # create, scale to 0, scale to 1: never recreated


def test_tune_releases_the_pool_after_success(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    data = run(["tune", "phi-3", "--method", "qlora", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    name = pool_name(namespace, "phi-3-mini-128k-instruct-tuning")
    assert data["state"] == "Succeeded" and data["pool"]["name"] == name
    assert name not in emu.pools() and _nodes_of(cluster, name) == []
    assert "PersistentVolumeClaim/phi-3-mini-128k-instruct-tuning-adapter" in objects_in(cluster, namespace)


def test_rerun_converges_on_one_pool(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    data = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert data["pool"]["action"] == "unchanged"
    assert len([p for p in emu.pools() if p.startswith("kc")]) == 1
    assert len(emu.requests(method="PUT", path="agentPools/kc")) == 1


def test_sigint_during_pool_creation_then_rerun_converges(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # The operation outlives the interrupted run by far, so the second run finds it running and follows it.
    emu.inject(Fault.slow(20.0))
    proc = Background(["deploy", "phi-3", "-n", namespace, "--no-progress"], env)
    proc.wait_for_line("NodePool           InProgress")
    wait_until(lambda: emu.requests(method="PUT", path="agentPools/kc"), "the agent pool PUT to reach ARM")
    proc.interrupt()
    assert proc.finish().returncode == 130
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    assert _pool_props(emu, name)["provisioningState"] != "Succeeded"
    data = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert data["pool"]["action"] == "wait"
    assert len([p for p in emu.pools() if p.startswith("kc")]) == 1
    assert len(emu.requests(method="PUT", path="agentPools/kc")) == 1  # the second run followed, did not PUT again


def test_quota_preflight_fails_fast_with_the_numbers(
    namespace: str, emu: Any, env: dict[str, str], cluster: Any
) -> None:
    emu.set_quota("standardNVADSA10v5Family", 24, current=0)
    # A given size is checked, not ranked away (the ranking would pick one with free quota).
    result = run(["deploy", "phi-3", "-n", namespace, "--instance-type", A10, "-o", "json"], env, timeout=60)
    assert result.returncode == 4
    error = result.json()["error"]
    assert error["reason"] == "QuotaExceeded"
    assert "needs 36 more, 24 of 24 left" in error["message"] and "request at least 36" in error["hint"]
    assert emu.requests(method="PUT") == [] and objects_in(cluster, namespace) == {}


@pytest.mark.parametrize(
    ("fault", "code", "text", "half_created"),
    [
        (lambda: Fault.quota_exceeded(mode="async"), "QuotaExceeded", "exceeding approved", True),
        (lambda: Fault.quota_exceeded(mode="sync"), "QuotaExceeded", "quota", False),
        (lambda: Fault.sku_not_available(), "SkuNotAvailable", "not allowed in your subscription", False),
        (
            lambda: Fault.operation_not_allowed(pool="kcsomething"),
            "OperationNotAllowed",
            "Another agentpool operation",
            False,
        ),
        (
            lambda: Fault.failed_operation("InternalOperationError", "VMSS creation failed"),
            "InternalOperationError",
            "VMSS creation failed",
            True,
        ),
        (lambda: Fault.server_error(503, times=10), "ServiceUnavailable", "HTTP 503", False),
        (lambda: Fault.expired_token(), "ExpiredAuthenticationToken", "az login", False),
    ],
    ids=["quota-async", "quota-sync", "sku", "operation-not-allowed", "failed-operation", "5xx", "expired-token"],
)
def test_azure_errors_exit_4_with_a_next_step(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str], fault: Any, code: str, text: str, half_created: bool
) -> None:
    emu.inject(fault())
    result = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120)
    assert result.returncode == 4, result.stderr
    error = result.json()["error"]
    assert error["reason"] == code, error
    assert text in error["message"] + " " + (error.get("hint") or "")
    assert error.get("hint")
    if half_created:
        assert "kaitoctl delete phi-3-mini-128k-instruct" in error["hint"]  # names the command that cleans up


def test_throttling_is_retried(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    emu.inject(Fault.throttle(2, retry_after=1))
    result = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check()
    assert result.json()["state"] == "Ready"
    assert sum(1 for r in emu.requests() if r["status"] == 429) == 2


def test_a_pool_kaitoctl_did_not_create_is_not_touched(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    from tests.harness.aks_emulator.clients import sdk_client

    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    sdk_client(emu).agent_pools.begin_create_or_update(
        "rg-local", "aks-local", name, {"properties": {"count": 1, "vmSize": A10, "mode": "User"}}, polling_interval=0
    ).result()
    refused = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=60)
    assert refused.returncode == 4 and refused.json()["error"]["reason"] == "PoolConflict"
    assert "--adopt" in refused.json()["error"]["hint"]
    puts_before = len(emu.requests(method="PUT", path=name))
    data = run(["deploy", "phi-3", "-n", namespace, "--adopt", "-o", "json"], env, timeout=120).check().json()
    assert data["state"] == "Ready" and data["pool"]["name"] == name
    props = _pool_props(emu, name)
    # Adopted: the pool's workspace and the count it had are tagged, so a later run or delete knows it (and gives
    # it back as it was instead of deleting it).
    assert props["tags"] == {
        "kaitoctl-workspace": f"{namespace}/phi-3-mini-128k-instruct",
        "kaitoctl-adopted-count": "1",
    }
    assert len(emu.requests(method="PUT", path=name)) == puts_before + 1
    again = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert again["pool"]["action"] == "unchanged"  # no --adopt needed any more


def test_no_device_plugin_leaves_the_cluster_s_own(cluster: Any, namespace: str, make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(cluster.kubeconfig, operation_seconds=1.0, device_plugin_preinstalled=True)
    env = base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "0.1"})
    from kubernetes import client

    apps = client.AppsV1Api(cluster.api_client())
    ours = "metadata.name=nvidia-device-plugin-daemonset"
    before = {d.metadata.uid for d in apps.list_daemon_set_for_all_namespaces(field_selector=ours).items}
    data = (
        run(["deploy", "phi-3", "-n", namespace, "--no-device-plugin", "-o", "json"], env, timeout=120).check().json()
    )
    assert data["state"] == "Ready"
    after = {d.metadata.uid for d in apps.list_daemon_set_for_all_namespaces(field_selector=ours).items}
    assert after == before  # kaitoctl created no device plugin


def test_cloud_flag(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    unknown = run(["deploy", "phi-3", "-n", namespace, "--cloud", "Mars"], env, timeout=60)
    assert unknown.returncode == 2
    assert "error: --cloud: unknown cloud 'Mars'" in unknown.stderr.splitlines()
    assert emu.requests() == [] and objects_in(cluster, namespace) == {}
    # The endpoint is the emulator's (KAITOCTL_ARM_ENDPOINT); the cloud picks the token scope and login host.
    data = run(["deploy", "phi-3", "-n", namespace, "--cloud", "AzureChinaCloud", "-o", "json"], env, timeout=120)
    assert data.check().json()["state"] == "Ready"


def test_dry_run_never_calls_azure(emu: Any, env: dict[str, str]) -> None:
    run(["deploy", "phi-3", "--dry-run"], env).check()
    run(["tune", "phi-3", "--method", "qlora", "--dry-run"], env).check()
    assert emu.requests() == []


def test_credentials_come_from_azure_identity(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    emu.set_logged_in(False)
    result = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=60)
    assert result.returncode == 4
    assert "az login" in result.json()["error"]["hint"]
    # One line naming the sources tried and the fix; azure-identity's own dump only with --debug.
    assert "no usable Azure credentials (tried: AzureCliCredential)" in result.stderr
    assert "Attempted credentials" not in result.stderr and "troubleshoot" not in result.stderr
    debug = run(["deploy", "phi-3", "-n", namespace, "--debug"], env, timeout=60)
    assert debug.returncode == 4 and "Attempted credentials" in debug.stderr
    assert objects_in(cluster, namespace) == {}


def test_recreate_replaces_a_pool_whose_vm_size_changed(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # Issue 9 item 15: the refusal's advice ("re-run with --recreate") must work in pool mode.
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    bigger = ["deploy", "phi-3", "-n", namespace, "--instance-type", "Standard_NV72ads_A10_v5", "-o", "json"]
    refused = run(bigger, env, timeout=60)
    assert refused.returncode == 2 and "--recreate" in refused.json()["error"]["hint"]
    data = run([*bigger, "--recreate"], env, timeout=180).check().json()
    assert data["pool"]["action"] == "recreate" and data["state"] == "Ready"
    assert _pool_props(emu, name)["vmSize"] == "Standard_NV72ads_A10_v5"
    nodes = _nodes_of(cluster, name)
    assert [n.metadata.labels["node.kubernetes.io/instance-type"] for n in nodes] == ["Standard_NV72ads_A10_v5"]
    writes = [r["method"] for r in emu.requests(path=f"agentPools/{name}$") if r["method"] in ("PUT", "DELETE")]
    assert writes == ["PUT", "DELETE", "PUT"]


def test_reserved_node_label_is_refused_before_any_write(
    namespace: str, emu: Any, env: dict[str, str], cluster: Any
) -> None:
    # Issue 9 item 18: AKS refuses these at PUT time; kaitoctl refuses them first, as bad input.
    result = run(
        ["deploy", "phi-3", "-n", namespace, "--label", "kubernetes.azure.com/team=ml", "-o", "json"], env, timeout=60
    )
    assert result.returncode == 2, result.stderr
    error = result.json()["error"]
    assert error["field"] == "--label" and "kubernetes.azure.com/team" in error["message"]
    assert emu.requests(method="PUT") == [] and objects_in(cluster, namespace) == {}


def _interrupted_delete(cluster: Any, namespace: str, emu: Any, env: dict[str, str], seconds: float = 6.0) -> str:
    """deploy, then Ctrl-C a `kaitoctl delete` while Azure is deleting the pool; returns the pool's name."""
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    emu.inject(Fault.slow(seconds, method="DELETE"))
    proc = Background(["delete", "phi-3-mini-128k-instruct", "-n", namespace, "-y", "--no-progress"], env)
    wait_until(
        lambda: emu.pools().get(name, {}).get("properties", {}).get("provisioningState") == "Deleting",
        f"agent pool {name} Deleting",
        interval=0.05,
    )
    proc.interrupt()
    assert proc.finish().returncode == 130
    assert emu.pools()[name]["properties"]["provisioningState"] == "Deleting"
    return name


def test_deploy_after_an_interrupted_delete_waits_for_it_then_creates(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # Issue 9 item 17: following the delete to 404 is not a pool; wait for it to end, then create.
    name = _interrupted_delete(cluster, namespace, emu, env)
    data = run(["deploy", "phi-3", "-n", namespace, "-o", "json", "--timeout", "90"], env, timeout=150).check().json()
    assert {k: data["pool"][k] for k in ("name", "action")} == {"name": name, "action": "create"} and data["state"] == "Ready"
    assert _pool_props(emu, name)["provisioningState"] == "Succeeded" and len(_nodes_of(cluster, name)) == 1
    writes = [r["method"] for r in emu.requests(path=f"agentPools/{name}$") if r["method"] in ("PUT", "DELETE")]
    assert writes == ["PUT", "DELETE", "PUT"]


def test_delete_after_an_interrupted_delete_follows_the_running_one(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # The workspace record goes last, so a re-run delete finds the pool Deleting: it follows that delete (a second
    # DELETE would be refused with OperationNotAllowed while one runs).
    # Long enough that the Azure delete is still running when the re-run reaches the pool.
    name = _interrupted_delete(cluster, namespace, emu, env, seconds=20.0)
    run(["delete", "phi-3-mini-128k-instruct", "-n", namespace, "-y"], env, timeout=120).check()
    assert name not in emu.pools() and _nodes_of(cluster, name) == []
    assert [r["status"] for r in emu.requests(method="DELETE", path=f"agentPools/{name}$")] == [202]
    assert objects_in(cluster, namespace) == {}


# ---- issue 10 item 1 / issue 14 item 8: orphaned pools, status -o wide ----------------------------------------------


def test_a_pool_without_a_record_is_listed_by_status_and_released_by_delete(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    workspace = "phi-3-mini-128k-instruct"
    # A given size (without one the SKU ranking picks the cheapest by the emulator's prices).
    run(["deploy", "phi-3", "-n", namespace, "--instance-type", A10], env, timeout=120).check()
    name = pool_name(namespace, workspace)
    # A half-failed run: the workspace record is gone (before the fix, delete then removed the objects it found
    # by their labels and left the pool running).
    cluster.core().delete_namespaced_config_map(f"{workspace}-workspace", namespace)
    listed = run(["status", "-n", namespace, "-o", "json"], env, timeout=60).check().json()
    assert listed["items"] == []
    assert listed["orphanedPools"] == [
        {
            "pool": name,
            "workspace": workspace,
            "namespace": namespace,
            "vmSize": A10,
            "count": 1,
            "provisioningState": "Succeeded",
        }
    ]
    table = run(["status", "-n", namespace], env, timeout=60).check()
    assert f"agent pool {name} (1 × {A10}) carries kaitoctl's tags" in table.stderr
    assert f"`kaitoctl delete {workspace} -n {namespace}` releases it" in table.stderr
    data = run(["delete", workspace, "-n", namespace, "-y", "-o", "json"], env, timeout=120).check().json()
    assert data["deleted"][workspace]["pool"] == "deleted"
    assert name not in emu.pools() and _nodes_of(cluster, name) == []
    assert objects_in(cluster, namespace) == {}
    assert run(["status", "-n", namespace, "-o", "json"], env, timeout=60).check().json()["orphanedPools"] == []


def test_status_wide_shows_endpoint_cost_and_pool(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "XDG_CACHE_HOME": str(tmp_path)}  # deploy caches the retail price; status reads only the cache
    workspace = "phi-3-mini-128k-instruct"
    deployed = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    price = deployed["pool"]["usdPerHour"]
    name = pool_name(namespace, workspace)
    before = len(emu.requests())
    wide = run(["status", "-n", namespace, "-o", "wide"], env, timeout=60).check()
    # What status costs Azure with a cluster configured: one agentPools list (the orphan check), nothing else.
    asked = emu.requests()[before:]
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in asked] == [("GET", "agentPools")], asked
    header, row = wide.stdout.splitlines()
    assert header.split()[-3:] == ["ENDPOINT", "$/H", "POOL"]
    assert row.split()[-3:] == [f"http://{workspace}.{namespace}.svc.cluster.local:80", f"{price:.2f}", name]
    item = run(["status", "-n", namespace, "-o", "json"], env, timeout=60).check().json()["items"][0]
    assert (item["pool"], item["usdPerHour"]) == (name, price)
    # Without the cache the price is unknown; status never asks the Prices API.
    (tmp_path / "kaitoctl" / "prices.json").unlink()
    before = len(emu.requests(path="api/retail/prices"))
    row = run(["status", "-n", namespace, "-o", "wide"], env, timeout=60).check().stdout.splitlines()[1]
    assert row.split()[-2] == "unknown"
    assert len(emu.requests(path="api/retail/prices")) == before


def test_an_adopted_pool_is_never_scaled_down_and_is_given_back_on_delete(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # Issue 10 item 5: --adopt used to overwrite the pool's tags and labels, scale it 2 -> 1, and delete it later.
    from tests.harness.aks_emulator.clients import sdk_client

    workspace = "phi-3-mini-128k-instruct"
    name = pool_name(namespace, workspace)
    theirs = {"count": 2, "vmSize": A10, "mode": "User", "tags": {"owner": "ops"}, "nodeLabels": {"team": "ml"}}
    sdk_client(emu).agent_pools.begin_create_or_update(
        "rg-local", "aks-local", name, {"properties": theirs}, polling_interval=0
    ).result()
    data = run(["deploy", "phi-3", "-n", namespace, "--adopt", "-o", "json"], env, timeout=120).check().json()
    assert data["state"] == "Ready" and data["pool"]["action"] == "update"
    props = _pool_props(emu, name)
    assert props["count"] == 2 and len(_nodes_of(cluster, name)) == 2
    assert props["tags"] == {"owner": "ops", "kaitoctl-workspace": f"{namespace}/{workspace}", "kaitoctl-adopted-count": "2"}
    assert props["nodeLabels"]["team"] == "ml" and props["nodeLabels"]["kaitoctl.io/workspace"] == workspace
    deleted = run(["delete", workspace, "-n", namespace, "-y", "-o", "json"], env, timeout=120).check().json()
    assert deleted["deleted"][workspace]["pool"] == "restored to 2 node(s) (adopted: kept)"
    props = _pool_props(emu, name)
    assert (props["count"], props["tags"], props["nodeLabels"]) == (2, {"owner": "ops"}, {"team": "ml"})
    assert emu.requests(method="DELETE", path=f"agentPools/{name}$") == []
    assert len(_nodes_of(cluster, name)) == 2 and objects_in(cluster, namespace) == {}


# ---- issue 10 items 2 and 7: SIGTERM at a safe point, one -o json object, a re-run (or delete) converges --------------


def _one_json(result: Any) -> dict[str, Any]:
    """stdout is exactly one JSON document (json.loads refuses trailing data), valid against the schema."""
    assert "Traceback" not in result.stderr, result.stderr
    data: dict[str, Any] = result.json()
    return data


def test_sigterm_during_pool_creation_prints_one_json_object_and_a_rerun_converges(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    emu.inject(Fault.slow(20.0))
    proc = Background(["deploy", "phi-3", "-n", namespace, "--no-progress", "-o", "json"], env)
    wait_until(lambda: emu.requests(method="PUT", path="agentPools/kc"), "the agent pool PUT to reach ARM")
    proc.terminate()
    stopped = proc.finish()
    assert stopped.returncode == 130
    data = _one_json(stopped)
    name = pool_name(namespace, "phi-3-mini-128k-instruct")
    assert data["error"]["exitCode"] == 130 and data["pool"]["name"] == name
    assert [p["reason"] for p in data["phases"] if p["status"] == "False"] == ["Interrupted"]
    again = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=120).check().json()
    assert again["state"] == "Ready" and again["pool"]["action"] == "wait"
    assert [p for p in emu.pools() if p.startswith("kc")] == [name]
    assert len(emu.requests(method="PUT", path="agentPools/kc")) == 1  # followed, not PUT again


def _record_status(cluster: Any, namespace: str, workspace: str) -> dict[str, Any]:
    import json

    record = cluster.core().read_namespaced_config_map(f"{workspace}-workspace", namespace)
    return dict(json.loads(record.data["status.json"]))


def test_sigterm_during_tuning_cleanup_leaves_it_pending_and_a_rerun_finishes_it(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    workspace = "phi-3-mini-128k-instruct-tuning"
    name = pool_name(namespace, workspace)
    emu.inject(Fault.slow(20.0, method="DELETE"))  # the cleanup's pool delete outlives the run
    args = ["tune", "phi-3", "--method", "qlora", "-n", namespace, "-o", "json"]
    proc = Background([*args, "--no-progress"], env)
    wait_until(
        lambda: emu.pools().get(name, {}).get("properties", {}).get("provisioningState") == "Deleting",
        f"agent pool {name} Deleting (the cleanup)",
        timeout=120,
        interval=0.1,
    )
    proc.terminate()
    stopped = proc.finish()
    assert stopped.returncode == 130
    data = _one_json(stopped)
    assert data["state"] == "Succeeded" and data["error"]["exitCode"] == 130
    assert {p["name"]: p["reason"] for p in data["phases"]}["Cleanup"] == "Interrupted"
    assert _record_status(cluster, namespace, workspace)["cleanup"] == "pending"
    listed = run(["status", workspace, "-n", namespace, "-o", "json"], env, timeout=60).check().json()
    assert listed["state"] == "Succeeded" and listed["pool"] == name
    # The re-run does not train again: it finishes the cleanup (following the running delete).
    again = run(args, env, timeout=120).check().json()
    assert again["state"] == "Succeeded"
    assert name not in emu.pools() and _nodes_of(cluster, name) == []
    assert _record_status(cluster, namespace, workspace)["cleanup"] == "done"
    assert len(emu.requests(method="PUT", path=f"agentPools/{name}$")) == 1  # one pool, never created again


def test_a_failed_tuning_cleanup_is_finished_by_delete(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    workspace = "phi-3-mini-128k-instruct-tuning"
    name = pool_name(namespace, workspace)
    emu.inject(Fault.failed_operation(method="DELETE"))  # the cleanup's pool delete ends Failed
    failed = run(["tune", "phi-3", "--method", "qlora", "-n", namespace, "-o", "json"], env, timeout=120)
    assert failed.returncode == 4, failed.stderr
    assert _one_json(failed)["state"] == "Succeeded"
    assert _record_status(cluster, namespace, workspace)["cleanup"] == "pending" and name in emu.pools()
    run(["delete", workspace, "-n", namespace, "-y"], env, timeout=120).check()
    assert name not in emu.pools() and objects_in(cluster, namespace) == {}


def test_sigterm_during_delete_prints_one_delete_result_and_a_rerun_finishes(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    workspace = "phi-3-mini-128k-instruct"
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, workspace)
    emu.inject(Fault.slow(20.0, method="DELETE"))
    proc = Background(["delete", workspace, "-n", namespace, "-y", "--no-progress", "-o", "json"], env)
    wait_until(
        lambda: emu.pools().get(name, {}).get("properties", {}).get("provisioningState") == "Deleting",
        f"agent pool {name} Deleting",
        interval=0.05,
    )
    proc.terminate()
    stopped = proc.finish()
    assert stopped.returncode == 130
    data = _one_json(stopped)
    assert data["kind"] == "DeleteResult" and data["error"]["exitCode"] == 130 and data["namespace"] == namespace
    # The record names the pool until it is released: the re-run finds it and follows the running delete.
    assert f"ConfigMap/{workspace}-workspace" in objects_in(cluster, namespace)
    again = run(["delete", workspace, "-n", namespace, "-y", "-o", "json"], env, timeout=120).check().json()
    assert again["deleted"][workspace]["pool"] == "deleted"
    assert name not in emu.pools() and objects_in(cluster, namespace) == {}


def test_an_azure_error_releasing_the_pool_keeps_the_record_and_a_rerun_finishes(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # Issue 10 item 1: the record goes last, only once the pool is released; it is what names the pool.
    workspace = "phi-3-mini-128k-instruct"
    run(["deploy", "phi-3", "-n", namespace], env, timeout=120).check()
    name = pool_name(namespace, workspace)
    emu.inject(Fault.failed_operation(method="DELETE"))
    failed = run(["delete", workspace, "-n", namespace, "-y", "-o", "json"], env, timeout=120)
    assert failed.returncode == 4 and failed.json()["error"]["exitCode"] == 4
    assert name in emu.pools()
    assert list(objects_in(cluster, namespace, workspace)) == [f"ConfigMap/{workspace}-workspace"]
    again = run(["delete", workspace, "-n", namespace, "-y", "-o", "json"], env, timeout=120).check().json()
    assert again["deleted"][workspace]["pool"] == "deleted"
    assert name not in emu.pools() and objects_in(cluster, namespace) == {}


def test_tuning_cleanup_gives_an_adopted_pool_back(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    # Issue 10 item 5: the default cleanup (on-success) used to delete the whole adopted pool.
    from tests.harness.aks_emulator.clients import sdk_client

    workspace = "phi-3-mini-128k-instruct-tuning"
    name = pool_name(namespace, workspace)
    theirs = {"count": 2, "vmSize": A10, "mode": "User", "tags": {"owner": "ops"}, "nodeLabels": {"team": "ml"}}
    sdk_client(emu).agent_pools.begin_create_or_update(
        "rg-local", "aks-local", name, {"properties": theirs}, polling_interval=0
    ).result()
    args = ["tune", "phi-3", "--method", "qlora", "-n", namespace, "--adopt", "-o", "json"]
    data = run(args, env, timeout=180).check().json()
    assert data["state"] == "Succeeded" and data["pool"]["action"] == "update"
    props = _pool_props(emu, name)
    assert (props["count"], props["tags"], props["nodeLabels"]) == (2, {"owner": "ops"}, {"team": "ml"})
    assert emu.requests(method="DELETE", path=f"agentPools/{name}$") == []
