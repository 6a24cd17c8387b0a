"""The ARM emulator driven by the REAL Azure SDK (azure-mgmt-containerservice, azure-mgmt-compute,
azure-identity): the wire behaviour and each fault surface as the SDK sources (azure-core, azure-mgmt-core) predict. Tests that need the Kubernetes side
effects (nodes, device plugin) use the `cluster` fixture and are also marked e2e.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from tests.harness.aks_emulator import ArmEmulator, Fault
from tests.harness.aks_emulator.clients import StaticToken, compute_client, sdk_client

pytest_plugins = ["tests.harness.aks_fixtures"]
pytestmark = pytest.mark.azure

RG, CLUSTER = "rg-local", "aks-local"
A100 = "Standard_NC24ads_A100_v4"  # 24 vCPU, 1 GPU, StandardNCADSA100v4Family
REPO_ROOT = Path(__file__).resolve().parents[2]


def gpu_pool(count: int = 1, vm_size: str = A100, **props: Any) -> dict[str, Any]:
    """A PUT body shaped like Kaito's gpu-provisioner's (Azure/gpu-provisioner
    pkg/providers/instance/instance.go), plus the explicit mode."""
    return {
        "properties": {
            "count": count,
            "vmSize": vm_size,
            "mode": "User",
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "nodeLabels": {"kaito.sh/workspace": "ws1", "kaito.sh/machine-type": "gpu"},
            "nodeTaints": ["sku=gpu:NoSchedule"],
            **props,
        }
    }


def raw(emu: ArmEmulator, token: str | None = "t") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=emu.endpoint, verify=ssl.create_default_context(cafile=str(emu.ca_bundle)), headers=headers
    )


def pool_url(emu: ArmEmulator, pool: str = "") -> str:
    base = (
        f"/subscriptions/{emu.subscription}/resourceGroups/{RG}/providers/Microsoft.ContainerService"
        f"/managedClusters/{CLUSTER}/agentPools"
    )
    return f"{base}/{pool}" if pool else base


API = {"api-version": "2026-08-01"}


# -- the happy path -----------------------------------------------------------------------------------------


def test_create_get_list_scale_delete(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    t0 = time.monotonic()
    created = aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert created.provisioning_state == "Succeeded"
    assert created.vm_size == A100 and created.count == 1
    assert created.node_taints == ["sku=gpu:NoSchedule"]

    got = aks_client.agent_pools.get(RG, CLUSTER, "gpu")
    assert got.id.endswith("/managedClusters/aks-local/agentPools/gpu")
    assert got.properties.mode == "User"
    assert sorted(p.name for p in aks_client.agent_pools.list(RG, CLUSTER)) == ["gpu", "nodepool1"]

    scaled = aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=3)).result()
    assert scaled.count == 3 and scaled.provisioning_state == "Succeeded"

    aks_client.agent_pools.begin_delete(RG, CLUSTER, "gpu").result()
    with pytest.raises(ResourceNotFoundError):
        aks_client.agent_pools.get(RG, CLUSTER, "gpu")
    elapsed = time.monotonic() - t0
    assert elapsed >= 3 * 0.2  # three operations of 0.2 s each, by wall clock

    puts = arm_emulator.requests("PUT")
    assert [r["status"] for r in puts] == [201, 200]
    assert puts[0]["user_agent"].startswith("azsdk-python-mgmt-containerservice/")
    assert puts[0]["body"]["properties"]["mode"] == "User"
    # The SDK re-sends one x-ms-client-request-id on every poll of an LRO (azure-core RequestIdPolicy).
    put_id = puts[0]["client_request_id"]
    polls = [r for r in arm_emulator.requests("GET", "/operations/") if r["client_request_id"] == put_id]
    assert polls and all(r["status"] == 200 for r in polls)
    assert arm_emulator.requests("DELETE")[0]["status"] == 202


def test_put_answers_201_creating_with_absolute_async_operation_url(arm_emulator: ArmEmulator) -> None:
    with raw(arm_emulator) as http:
        resp = http.put(pool_url(arm_emulator, "gpu"), params=API, json=gpu_pool())
        assert resp.status_code == 201
        assert resp.json()["properties"]["provisioningState"] == "Creating"
        assert resp.json()["type"] == "Microsoft.ContainerService/managedClusters/agentPools"
        op_url = resp.headers["Azure-AsyncOperation"]
        assert op_url.startswith(
            f"{arm_emulator.endpoint}/subscriptions/{arm_emulator.subscription}"
            "/providers/Microsoft.ContainerService/locations/eastus/operations/"
        )
        assert resp.headers["Retry-After"] == "0"
        status = http.get(op_url).json()
        assert status["status"] == "InProgress" and "startTime" in status and "endTime" not in status
        arm_emulator.wait_idle()
        status = http.get(op_url).json()
        assert status["status"] == "Succeeded" and "endTime" in status

        # Same pool, new count: 200 and Scaling.
        resp = http.put(pool_url(arm_emulator, "gpu"), params=API, json=gpu_pool(count=2))
        assert resp.status_code == 200 and resp.json()["properties"]["provisioningState"] == "Scaling"
        arm_emulator.wait_idle()
        resp = http.delete(pool_url(arm_emulator, "gpu"), params=API)
        assert resp.status_code == 202 and not resp.content
        assert "/operationresults/" in resp.headers["Location"]
        assert http.get(pool_url(arm_emulator, "gpu"), params=API).json()["properties"]["provisioningState"] == (
            "Deleting"
        )
        assert http.get(resp.headers["Location"]).status_code == 202
        arm_emulator.wait_idle()
        assert http.get(resp.headers["Location"]).status_code == 204
        assert http.delete(pool_url(arm_emulator, "gpu"), params=API).status_code == 204


def test_timeline_is_wall_clock_not_poll_count(make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(operation_seconds=0.8)
    with raw(emu) as http:
        op_url = http.put(pool_url(emu, "gpu"), params=API, json=gpu_pool()).headers["Azure-AsyncOperation"]
        for _ in range(5):  # a fast poller sees InProgress however often it asks
            assert http.get(op_url).json()["status"] == "InProgress"
        time.sleep(0.9)  # a slow poller's first look after the duration sees the end
        assert http.get(op_url).json()["status"] == "Succeeded"
    client = sdk_client(emu)
    t0 = time.monotonic()
    client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu2", gpu_pool()).result()
    assert time.monotonic() - t0 >= 0.8  # never before the operation's duration (a lower bound: load cannot break it)


def test_list_pages_with_absolute_next_link(make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(list_page_size=4, operation_seconds=0.05)
    client = sdk_client(emu)
    pollers = [
        client.agent_pools.begin_create_or_update(RG, CLUSTER, f"user{i}", gpu_pool(vm_size="Standard_D4s_v5"))
        for i in range(9)
    ]
    for poller in pollers:
        poller.result()
    names = [p.name for p in client.agent_pools.list(RG, CLUSTER)]
    assert sorted(names) == sorted(["nodepool1"] + [f"user{i}" for i in range(9)])
    lists = emu.requests("GET", r"/agentpools$")
    assert len(lists) == 3
    assert lists[1]["query"]["$skipToken"] == "4" and lists[1]["query"]["api-version"] == "2026-08-01"


def test_managed_cluster_and_credentials(make_arm_emulator: Any, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    emu = make_arm_emulator(kubeconfig, node_side_effects=False)
    client = sdk_client(emu)
    mc = client.managed_clusters.get(RG, CLUSTER)
    assert mc.location == "eastus"
    assert mc.properties.provisioning_state == "Succeeded"
    assert mc.properties.node_resource_group == "MC_rg-local_aks-local_eastus"
    assert mc.properties.kubernetes_version and mc.properties.fqdn.endswith(".hcp.eastus.azmk8s.io")
    assert [p.name for p in mc.properties.agent_pool_profiles] == ["nodepool1"]
    assert mc.properties.agent_pool_profiles[0].mode == "System"

    user = client.managed_clusters.list_cluster_user_credentials(RG, CLUSTER)
    assert user.kubeconfigs[0].name == "clusterUser"
    assert user.kubeconfigs[0].value == kubeconfig.read_bytes()  # the SDK base64-decodes to bytes
    admin = client.managed_clusters.list_cluster_admin_credentials(RG, CLUSTER)
    assert admin.kubeconfigs[0].name == "clusterAdmin"
    post = emu.requests("POST", "listClusterUserCredential")[0]
    assert post["status"] == 200


def test_credentials_without_a_cluster_are_a_valid_kubeconfig(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    import yaml

    value = aks_client.managed_clusters.list_cluster_user_credentials(RG, CLUSTER).kubeconfigs[0].value
    config = yaml.safe_load(value)
    assert config["clusters"][0]["cluster"]["server"].endswith(".hcp.eastus.azmk8s.io:443")


# -- validation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pool", "body", "code", "needle"),
    [
        ("Bad_Name", gpu_pool(), "InvalidParameter", "agentPoolProfile.name"),
        ("waytoolongname1", gpu_pool(), "InvalidParameter", "agentPoolProfile.name"),
        ("gpu", gpu_pool(count=1001), "InvalidParameter", "between 0 and 1000"),
        ("gpu", gpu_pool(count=-1), "InvalidParameter", "count"),
        ("gpu", {"properties": {"count": 1, "vmSize": A100}}, "InvalidParameter", "mode"),
        ("gpu", gpu_pool(nodeTaints=["sku=gpu"]), "InvalidParameter", "nodeTaints"),
        ("gpu", gpu_pool(nodeLabels={"kubernetes.azure.com/x": "y"}), "InvalidParameter", "reserved"),
        ("gpu", gpu_pool(vm_size="Standard_NC6s_v3"), "BadRequest", "is not allowed in your subscription"),
        ("gpu", gpu_pool(vm_size="Standard_Typo_v9"), "BadRequest", "location 'eastus'"),
    ],
)
def test_bad_input_is_a_400(aks_client: Any, pool: str, body: dict[str, Any], code: str, needle: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, pool, body)
    assert info.value.status_code == 400
    assert info.value.error.code == code
    assert needle in info.value.error.message


def test_vm_size_is_immutable_and_system_pool_rules(aks_client: Any) -> None:
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(vm_size="Standard_NC48ads_A100_v4"))
    assert info.value.error.code == "InvalidParameter" and "vmSize" in info.value.error.message

    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_delete(RG, CLUSTER, "nodepool1")
    assert info.value.status_code == 400 and "last system agent pool" in info.value.error.message
    system = {"properties": {"count": 0, "vmSize": "Standard_D4s_v5", "mode": "System"}}
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "nodepool1", system)
    assert "between 1 and 1000" in info.value.error.message

    # With a second System pool the first one may go.
    aks_client.agent_pools.begin_create_or_update(
        RG, CLUSTER, "sys2", {"properties": {"count": 1, "vmSize": "Standard_D4s_v5", "mode": "System"}}
    ).result()
    aks_client.agent_pools.begin_delete(RG, CLUSTER, "nodepool1").result()


def test_missing_api_version_and_auth(arm_emulator: ArmEmulator) -> None:
    with raw(arm_emulator) as http:
        resp = http.get(pool_url(arm_emulator))
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "MissingApiVersionParameter"
    with raw(arm_emulator, token=None) as http:
        resp = http.get(pool_url(arm_emulator), params=API)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "AuthenticationFailed"
        assert resp.headers["WWW-Authenticate"].startswith('Bearer authorization_uri="https://login.')
        # Paths match case-insensitively, as on ARM.
        resp = http.get(pool_url(arm_emulator).lower(), params=API, headers={"Authorization": "Bearer x"})
        assert resp.status_code == 200
        resp = http.get(
            pool_url(arm_emulator).replace("rg-local", "rg-other"), params=API, headers={"Authorization": "Bearer x"}
        )
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "ResourceGroupNotFound"


# -- faults ------------------------------------------------------------------------------------------------------


def test_quota_exceeded_async_from_the_configured_limits(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    arm_emulator.set_quota("standardNCADSA100v4Family", 24)
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()  # 24 of 24

    poller = aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu2", gpu_pool())
    assert arm_emulator.requests("PUT")[-1]["status"] == 201  # accepted; the operation fails later
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    err = info.value
    assert err.status_code == 200  # the operation-status answer (ARMPolling raises on it)
    assert err.error.code == "QuotaExceeded"
    for part in (
        "exceeding approved StandardNCADSA100v4Family Cores quota",
        "Location: eastus",
        "Current Limit: 24",
        "Current Usage: 24",
        "Additional Required: 24",
        "(Minimum) New Limit Required: 48",
    ):
        assert part in err.error.message
    failed = aks_client.agent_pools.get(RG, CLUSTER, "gpu2")
    assert failed.provisioning_state == "Failed"
    assert failed.status.provisioning_error.code == "QuotaExceeded"


def test_quota_regional_cores(make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(regional_cores_limit=20)
    with pytest.raises(HttpResponseError) as info:
        sdk_client(emu).agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert "Total Regional Cores quota" in info.value.error.message
    assert "Current Usage: 4" in info.value.error.message  # nodepool1's D4s_v5


def test_quota_sync_preflight(make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(quota_mode="sync")
    emu.set_quota("standardNCADSA100v4Family", 0)
    with pytest.raises(HttpResponseError) as info:
        sdk_client(emu).agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool())
    assert info.value.status_code == 400 and info.value.error.code == "QuotaExceeded"
    assert info.value.error.message.startswith("Preflight validation check for resource(s)")
    assert "gpu" not in emu.pools()


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_injected_quota_fault(arm_emulator: ArmEmulator, aks_client: Any, mode: str) -> None:
    fault = arm_emulator.inject(Fault.quota_exceeded(mode=mode))  # type: ignore[arg-type]
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert info.value.error.code == "QuotaExceeded"
    assert info.value.status_code == (200 if mode == "async" else 400)
    assert "StandardNCADSA100v4Family" in info.value.error.message
    assert fault.fired == 1
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()  # fault spent


@pytest.mark.parametrize("style", ["BadRequest", "SkuNotAvailable"])
def test_injected_sku_not_available(arm_emulator: ArmEmulator, aks_client: Any, style: str) -> None:
    arm_emulator.inject(Fault.sku_not_available(style=style))  # type: ignore[arg-type]
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool())
    assert info.value.status_code == 400 and info.value.error.code == style
    expected = "is not allowed in your subscription" if style == "BadRequest" else "aka.ms/azureskunotavailable"
    assert expected in info.value.error.message


def test_operation_not_allowed_while_an_operation_runs(make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(operation_seconds=1.0)
    client = sdk_client(emu)
    poller = client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool())
    with pytest.raises(ResourceExistsError) as info:  # every 409 maps to ResourceExistsError (azure-core error_map)
        client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=2))
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    assert "Another agentpool operation (gpu - Creating) is in progress" in info.value.error.message
    with pytest.raises(ResourceExistsError):
        client.agent_pools.begin_delete(RG, CLUSTER, "gpu")
    poller.result()
    client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=2)).result()


def test_injected_operation_not_allowed(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    arm_emulator.inject(Fault.operation_not_allowed(pool="nodepool1", state="Upgrading"))
    with pytest.raises(ResourceExistsError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool())
    assert info.value.error.code == "OperationNotAllowed" and "(nodepool1 - Upgrading)" in info.value.error.message


def test_throttling_is_retried_by_the_sdk(arm_emulator: ArmEmulator) -> None:
    arm_emulator.inject(Fault.throttle(times=2, retry_after=0, method="GET"))
    client = sdk_client(arm_emulator, retry_total=10, retry_backoff_factor=0)
    assert client.agent_pools.get(RG, CLUSTER, "nodepool1").name == "nodepool1"
    gets = arm_emulator.requests("GET")
    assert [r["status"] for r in gets] == [429, 429, 200]
    assert len({r["client_request_id"] for r in gets}) == 1  # retries of one call


def test_throttling_without_retries_raises_429(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    arm_emulator.inject(Fault.throttle(times=1, retry_after=7))
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.get(RG, CLUSTER, "nodepool1")
    assert info.value.status_code == 429
    assert info.value.error.code == "SubscriptionRequestsThrottled"
    assert info.value.response.headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(arm_emulator: ArmEmulator, aks_client: Any, status: int) -> None:
    arm_emulator.inject(Fault.server_error(status, times=1))
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.get(RG, CLUSTER, "nodepool1")
    assert info.value.status_code == status
    # With retries the next attempt succeeds.
    arm_emulator.inject(Fault.server_error(status, times=1))
    retrying = sdk_client(arm_emulator, retry_total=3, retry_backoff_factor=0)
    assert retrying.agent_pools.get(RG, CLUSTER, "nodepool1").name == "nodepool1"


def test_throttled_polls_do_not_break_an_lro(arm_emulator: ArmEmulator) -> None:
    arm_emulator.inject(Fault.throttle(times=2, path="/operations/"))
    client = sdk_client(arm_emulator, retry_total=5, retry_backoff_factor=0)
    assert client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result().count == 1
    assert [r["status"] for r in arm_emulator.requests("GET", "/operations/")][:2] == [429, 429]


def test_failed_long_running_operation(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    details = [{"code": "AllocationFailed", "message": "Allocation failed in zone 1."}]
    arm_emulator.inject(
        Fault.failed_operation("ZonalAllocationFailed", "Allocation failed. Please try another zone.", details=details)
    )
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert info.value.error.code == "ZonalAllocationFailed"
    assert info.value.error.details[0].code == "AllocationFailed"
    pool = aks_client.agent_pools.get(RG, CLUSTER, "gpu")
    assert pool.provisioning_state == "Failed"
    assert pool.status.provisioning_error.message == "Allocation failed. Please try another zone."
    # A failed delete leaves the pool, Failed.
    arm_emulator.inject(Fault.failed_operation("InternalOperationError", "boom", method="DELETE"))
    with pytest.raises(HttpResponseError):
        aks_client.agent_pools.begin_delete(RG, CLUSTER, "gpu").result()
    assert aks_client.agent_pools.get(RG, CLUSTER, "gpu").provisioning_state == "Failed"
    aks_client.agent_pools.begin_delete(RG, CLUSTER, "gpu").result()


def test_slow_operation(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    arm_emulator.inject(Fault.slow(1.0))
    t0 = time.monotonic()
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert time.monotonic() - t0 >= 1.0


def test_abort_cancels_the_running_operation(make_arm_emulator: Any) -> None:
    emu = make_arm_emulator(operation_seconds=5.0)
    client = sdk_client(emu)
    poller = client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool())
    client.agent_pools.begin_abort_latest_operation(RG, CLUSTER, "gpu").result()
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error.code == "OperationCanceled"
    assert client.agent_pools.get(RG, CLUSTER, "gpu").provisioning_state == "Canceled"


def test_expired_token(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    arm_emulator.inject(Fault.expired_token())
    with pytest.raises(ClientAuthenticationError) as info:
        aks_client.agent_pools.get(RG, CLUSTER, "nodepool1")
    assert info.value.status_code == 401
    assert "ExpiredAuthenticationToken" in str(info.value)
    assert 'error_description="The access token has expired."' in info.value.response.headers["WWW-Authenticate"]
    arm_emulator.clear_faults()
    assert aks_client.agent_pools.get(RG, CLUSTER, "nodepool1").name == "nodepool1"


def test_faults_are_scoped_by_method_and_path(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    arm_emulator.inject(Fault.server_error(503, times=None, method="GET", path=r"/agentpools/gpu$"))
    assert aks_client.agent_pools.get(RG, CLUSTER, "nodepool1").name == "nodepool1"
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(), polling=False)
    with pytest.raises(HttpResponseError) as info:
        aks_client.agent_pools.get(RG, CLUSTER, "gpu")
    assert info.value.status_code == 503


# -- credentials ---------------------------------------------------------------------------------------------------


@pytest.fixture
def emulator_env(arm_emulator: ArmEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmEmulator]:
    for name, value in arm_emulator.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield arm_emulator


def test_real_default_azure_credential_with_the_fake_az(
    make_arm_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import DefaultAzureCredential

    emu = make_arm_emulator(strict_tokens=True)  # only the fake az's token is accepted
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    credential = DefaultAzureCredential()
    client = sdk_client(emu, credential=credential)
    pool = client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert pool.provisioning_state == "Succeeded"

    with pytest.raises(ClientAuthenticationError) as info:  # a token not from the fake az
        sdk_client(emu, credential=StaticToken("forged")).agent_pools.get(RG, CLUSTER, "gpu")
    assert "InvalidAuthenticationToken" in str(info.value)


def test_fake_az_logged_out(emulator_env: ArmEmulator) -> None:
    from azure.identity import AzureCliCredential, CredentialUnavailableError

    emulator_env.set_logged_in(False)
    with pytest.raises(CredentialUnavailableError, match="az login"):
        AzureCliCredential().get_token("https://management.azure.com/.default")
    emulator_env.set_logged_in(True)
    assert AzureCliCredential().get_token("https://management.azure.com/.default").token == emulator_env.token


def test_az_cli_default_subscription(emulator_env: ArmEmulator) -> None:
    profile = Path(os.environ["AZURE_CONFIG_DIR"]) / "azureProfile.json"
    assert profile.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM, as the real az writes it
    out = subprocess.run(
        ["az", "account", "show", "--query", "id", "-o", "tsv"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == emulator_env.subscription


# -- Compute usages and prices ---------------------------------------------------------------------------------


def test_compute_usages_follow_the_pools(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    compute = compute_client(arm_emulator)

    def usage() -> dict[str, Any]:
        return {u.name.value: u for u in compute.usage.list("eastus")}

    before = usage()
    assert before["standardDSv5Family"].current_value == 4  # nodepool1
    assert before["StandardNCADSA100v4Family"].current_value == 0
    assert before["StandardNCADSA100v4Family"].limit == 100
    assert before["cores"].limit == 1000 and before["cores"].current_value == 4
    assert before["cores"].name.localized_value == "Total Regional vCPUs"
    assert before["StandardNCADSA100v4Family"].unit == "Count"

    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=2)).result()
    arm_emulator.set_quota("standardNDSH100v5Family", 192, current=96)
    after = usage()
    assert after["StandardNCADSA100v4Family"].current_value == 48
    assert after["standardNDSH100v5Family"].limit == 192
    assert after["standardNDSH100v5Family"].current_value == 96
    assert after["cores"].current_value == 4 + 48 + 96


def test_retail_prices(arm_emulator: ArmEmulator) -> None:
    flt = (
        "serviceName eq 'Virtual Machines' and armRegionName eq 'eastus' and "
        f"armSkuName eq '{A100}' and priceType eq 'Consumption'"
    )
    with raw(arm_emulator, token=None) as http:  # the public prices API needs no token
        body = http.get("/api/retail/prices", params={"$filter": flt}).json()
        assert body["Count"] == len(body["Items"]) == 5 and body["NextPageLink"] is None
        linux = [
            i
            for i in body["Items"]
            if i["productName"].startswith("Virtual Machines")
            and "Windows" not in i["productName"]
            and "Spot" not in i["meterName"]
            and i["retailPrice"] > 0
        ]
        assert len(linux) == 1
        item = linux[0]
        assert item["armSkuName"] == A100 and item["unitOfMeasure"] == "1 Hour" and item["currencyCode"] == "USD"
        assert item["type"] == "Consumption" and item["armRegionName"] == "eastus" and item["retailPrice"] > 0
        assert item["isEmulatorPrice"] is True
        everything = http.get("/api/retail/prices").json()
        assert everything["Count"] == 100 and everything["NextPageLink"].startswith(arm_emulator.endpoint)
        assert http.get("/api/retail/prices", params={"$filter": "bogus"}).status_code == 400


# -- the control endpoint and the shell wrapper -------------------------------------------------------------------


def test_control_endpoint(arm_emulator: ArmEmulator, aks_client: Any) -> None:
    with raw(arm_emulator, token=None) as http:
        resp = http.post("/_emulator/faults", json={"kind": "throttle", "times": 1})
        assert resp.status_code == 201
        assert http.get("/_emulator/faults").json()["value"][0]["kind"] == "response"
        with pytest.raises(HttpResponseError) as info:
            aks_client.agent_pools.get(RG, CLUSTER, "nodepool1")
        assert info.value.status_code == 429
        log = http.get("/_emulator/requests").json()["value"]
        assert log[-1]["status"] == 429 and log[-1]["client_request_id"]
        assert http.post("/_emulator/quota", json={"family": "cores", "limit": 10}).status_code == 204
        assert http.post("/_emulator/config", json={"operation_seconds": 0.05}).status_code == 204
        aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "u1", gpu_pool(vm_size="Standard_D4s_v5")).result()
        assert "u1" in {p["name"] for p in http.get("/_emulator/pools").json()["value"]}
        assert http.post("/_emulator/reset").status_code == 204
        assert [p["name"] for p in http.get("/_emulator/pools").json()["value"]] == ["nodepool1"]
        assert http.get("/_emulator/requests").json()["value"] == []


def test_hack_wrapper_start_env_stop(tmp_path: Path) -> None:
    script = REPO_ROOT / "hack" / "aks-emulator"
    state = tmp_path / "state"
    started = subprocess.run(
        [str(script), "start", "--state-dir", str(state), "--operation-seconds", "0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert started.returncode == 0, started.stderr
        exports = dict(line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines() if line)
        assert set(exports) == {
            "AZURE_SUBSCRIPTION_ID",
            "AZURE_RESOURCE_GROUP",
            "KAITOCTL_AKS_CLUSTER",
            "KAITOCTL_ARM_ENDPOINT",
            "KAITOCTL_ARM_CA_BUNDLE",
            "KAITOCTL_PRICES_ENDPOINT",
            "AZURE_TOKEN_CREDENTIALS",
            "AZURE_CONFIG_DIR",
            "PATH",
        }
        env_out = subprocess.run([str(script), "env", "--state-dir", str(state)], capture_output=True, text=True)
        assert env_out.stdout == started.stdout
        shell = subprocess.run(
            [
                "bash",
                "-c",
                f'eval "$({script} env --state-dir {state})"; az account show --query id -o tsv; '
                'echo "$KAITOCTL_ARM_ENDPOINT"',
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        sub, endpoint = shell.stdout.split()
        assert sub == "00000000-0000-0000-0000-000000000000"
        ca = exports["KAITOCTL_ARM_CA_BUNDLE"].strip("'")
        with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as http:
            assert http.get(f"{endpoint}/_emulator/health").json()["ok"] is True
    finally:
        stopped = subprocess.run([str(script), "stop", "--state-dir", str(state)], capture_output=True, text=True)
    assert stopped.returncode == 0
    assert not (state / "emulator.pid").exists()


# -- Kubernetes side effects (local cluster) -------------------------------------------------------------------


@pytest.fixture
def cluster_kubeconfig(request: pytest.FixtureRequest) -> Path:
    try:
        cluster = request.getfixturevalue("cluster")
    except pytest.FixtureLookupError:
        pytest.skip("needs the `cluster` fixture of tests/conftest.py")
    return Path(cluster.kubeconfig)


def _core(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def _wait(predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
def test_nodes_follow_the_pool(make_arm_emulator: Any, cluster_kubeconfig: Path) -> None:
    core = _core(cluster_kubeconfig)
    # Nodes at 0.1 s into each operation; the first one lasts 1.5 s so the test can look while it runs.
    emu = make_arm_emulator(cluster_kubeconfig, operation_seconds=0.3, nodes_ready_after_s=0.1)
    emu.inject(Fault.slow(1.5))
    client = sdk_client(emu)

    def pool_nodes() -> list[str]:
        nodes = core.list_node(label_selector="kubernetes.azure.com/agentpool=gpu").items
        return sorted(n.metadata.name for n in nodes)

    poller = client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=2))
    # Nodes join before the operation reports Succeeded.
    _wait(lambda: len(pool_nodes()) == 2, what="2 gpu nodes")
    assert client.agent_pools.get(RG, CLUSTER, "gpu").provisioning_state == "Creating"
    poller.result()
    names = pool_nodes()
    assert names == emu.node_names("gpu") == ["aks-gpu-12345678-vmss000000", "aks-gpu-12345678-vmss000001"]

    node = core.read_node(names[0])
    labels = node.metadata.labels
    assert labels["kubernetes.azure.com/agentpool"] == "gpu" and labels["agentpool"] == "gpu"
    assert labels["node.kubernetes.io/instance-type"] == A100
    assert labels["kubernetes.azure.com/accelerator"] == "nvidia"
    assert labels["kubernetes.azure.com/mode"] == "user"
    assert labels["kaito.sh/workspace"] == "ws1"  # the pool's nodeLabels
    assert [(t.key, t.value, t.effect) for t in node.spec.taints or [] if t.key == "sku"] == [
        ("sku", "gpu", "NoSchedule")
    ]
    assert "nvidia.com/gpu" not in (node.status.capacity or {})  # AKS does not install the device plugin
    assert node.spec.provider_id.endswith("/virtualMachineScaleSets/aks-gpu-12345678-vmss/virtualMachines/0")
    _wait(
        lambda: any(c.type == "Ready" and c.status == "True" for c in core.read_node(names[0]).status.conditions or []),
        what="kwok to make the node Ready",
    )

    client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=3)).result()
    assert pool_nodes()[-1] == "aks-gpu-12345678-vmss000002"
    client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=1)).result()
    assert pool_nodes() == ["aks-gpu-12345678-vmss000000"]  # scale-down removes the highest ids

    poller = client.agent_pools.begin_delete(RG, CLUSTER, "gpu")
    _wait(lambda: not pool_nodes(), what="the pool's nodes to go")
    assert client.agent_pools.get(RG, CLUSTER, "gpu").provisioning_state == "Deleting"
    poller.result()

    # A pool whose operation fails gets no nodes.
    emu.inject(Fault.quota_exceeded())
    with pytest.raises(HttpResponseError):
        client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    assert pool_nodes() == []


@pytest.mark.e2e
def test_device_plugin_daemonset_advertises_gpus(make_arm_emulator: Any, cluster_kubeconfig: Path) -> None:
    from kubernetes import client as k8s
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(cluster_kubeconfig))
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    emu = make_arm_emulator(cluster_kubeconfig)
    sdk_client(emu).agent_pools.begin_create_or_update(
        RG, CLUSTER, "gpu", gpu_pool(vm_size="Standard_NC48ads_A100_v4")
    ).result()
    node = emu.node_names("gpu")[0]
    assert "nvidia.com/gpu" not in (core.read_node(node).status.capacity or {})

    namespace = f"nvdp-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        labels = {"name": "nvidia-device-plugin-ds"}
        apps.create_namespaced_daemon_set(
            namespace,
            {
                "metadata": {"name": "nvidia-device-plugin-daemonset"},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "nodeSelector": {"kubernetes.azure.com/accelerator": "nvidia"},
                            "tolerations": [
                                {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
                            ],
                            "containers": [
                                {
                                    "name": "nvidia-device-plugin-ctr",
                                    "image": "mcr.microsoft.com/oss/v2/nvidia/k8s-device-plugin:v0.18.2-12",
                                }
                            ],
                        },
                    },
                },
            },
        )
        status = _wait(
            lambda: (core.read_node(node).status.capacity or {}).get("nvidia.com/gpu"),
            timeout=60,
            what="nvidia.com/gpu capacity from the simulated device plugin",
        )
        assert status == "2"
        assert core.read_node(node).status.allocatable["nvidia.com/gpu"] == "2"
    finally:
        # Wait for the DaemonSet's pods to be gone: a leftover plugin pod would give the next test's GPU nodes
        # (same names) their GPUs.
        apps.delete_namespaced_daemon_set(
            "nvidia-device-plugin-daemonset", namespace, propagation_policy="Foreground", grace_period_seconds=0
        )
        _wait(
            lambda: (
                not core.list_namespaced_pod(namespace).items and not apps.list_namespaced_daemon_set(namespace).items
            ),
            timeout=60,
            what="the device plugin DaemonSet and its pods to go",
        )
        core.delete_namespace(namespace)


@pytest.mark.e2e
def test_nodes_may_lag_behind_the_operation(make_arm_emulator: Any, cluster_kubeconfig: Path) -> None:
    """nodes_ready_after_s beyond the duration: Succeeded first, nodes later (kaitoctl must still wait)."""
    core = _core(cluster_kubeconfig)
    emu = make_arm_emulator(cluster_kubeconfig, operation_seconds=0.2, nodes_ready_after_s=1.5)
    sdk_client(emu).agent_pools.begin_create_or_update(RG, CLUSTER, "late", gpu_pool()).result()
    selector = "kubernetes.azure.com/agentpool=late"
    assert core.list_node(label_selector=selector).items == []
    _wait(lambda: core.list_node(label_selector=selector).items, what="the late node")


@pytest.mark.e2e
def test_device_plugin_preinstalled(make_arm_emulator: Any, cluster_kubeconfig: Path) -> None:
    core = _core(cluster_kubeconfig)
    emu = make_arm_emulator(cluster_kubeconfig, device_plugin_preinstalled=True)
    sdk_client(emu).agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool()).result()
    node = core.read_node(emu.node_names("gpu")[0])
    assert node.status.capacity["nvidia.com/gpu"] == "1"
    cpu_node = core.read_node("aks-nodepool1-12345678-vmss000000")
    assert "nvidia.com/gpu" not in cpu_node.status.capacity


# -- kaitoctl's pool operations through the real SDK (issue 9, items 13-19) ----------------------------------------
# PoolOperations and the Aks adapter run unchanged against the emulator; no Kubernetes side (no_device_plugin).


class Recorder:
    """A Reporter that keeps what kaitoctl would print."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def phases(self, records: list[Any]) -> None:
        pass

    def message(self, level: str, text: str) -> None:
        self.messages.append((level, text))

    def close(self) -> None:
        pass

    def texts(self, level: str) -> list[str]:
        return [t for lvl, t in self.messages if lvl == level]


@pytest.fixture
def kaitoctl_azure_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Point kaitoctl's Azure adapter (DefaultAzureCredential, the fake az) at an emulator."""

    def use(emu: ArmEmulator) -> ArmEmulator:
        for key, value in emu.env(dict(os.environ)).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no price cache from other tests
        monkeypatch.setenv("KAITOCTL_ARM_POLL_INTERVAL", "0.05")
        return emu

    return use


def _plan(preset: str = "phi-3", **kwargs: Any) -> Any:
    from tests.unit.helpers import deploy_spec, plan_of

    return plan_of(deploy_spec(preset, namespace="team", **kwargs), placement_mode="pool")


def _ops(emu: ArmEmulator, **opts: Any) -> Any:
    from kaitoctl.adapters.aks import AksTarget
    from kaitoctl.core.catalog import load_catalog
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.pool import PoolOperations

    target = AksTarget(emu.subscription, RG, CLUSTER, "azurecloud", emu.endpoint, str(emu.ca_bundle))
    ops = PoolOperations(target, RunOptions(no_device_plugin=True, **opts), None, load_catalog())  # type: ignore[arg-type]
    # One real DefaultAzureCredential per emulator (it caches the token): each new one runs the fake az once more,
    # which can pass azure-identity's 10 s subprocess timeout on a loaded CI machine.
    ops.aks._credential = _CREDENTIALS.setdefault(emu.endpoint, ops.aks.credential())
    return ops


_CREDENTIALS: dict[str, Any] = {}


def _preflight(emu: ArmEmulator, plan: Any, **opts: Any) -> tuple[Any, str, Recorder]:
    from kaitoctl.ops.progress import Progress

    ops, rec = _ops(emu, **opts), Recorder()
    action = ops.preflight(plan, Progress(rec, ["NodePool"]))
    return ops, action, rec


def _run_pool(ops: Any, plan: Any) -> None:
    import queue

    ops.start(plan, queue.Queue())
    ops.finish(30)


def _owned_pool(emu: ArmEmulator, plan: Any, **props: Any) -> None:
    """A pool kaitoctl made for `plan` earlier (its tags), with some properties changed."""
    from kaitoctl.ops.pool import pool_body

    body = pool_body(plan)
    body["properties"].update(props)
    sdk_client(emu).agent_pools.begin_create_or_update(RG, CLUSTER, plan.placement.pool_name, body).result()


def test_quota_check_is_skipped_with_a_warning_when_usages_are_forbidden(
    arm_emulator: ArmEmulator, kaitoctl_azure_env: Any
) -> None:
    # Item 13: a role on the resource group or cluster only cannot read subscription-scope usages (403).
    kaitoctl_azure_env(arm_emulator)
    arm_emulator.inject(Fault.usages_forbidden())
    _, action, rec = _preflight(arm_emulator, _plan())
    assert action == "create"
    warnings = rec.texts("warning")
    assert len(warnings) == 1 and "vCPU quota not checked" in warnings[0]
    assert "Microsoft.Compute/locations/usages/read" in warnings[0]
    assert [r["status"] for r in arm_emulator.requests(path="usages$")] == [403]


def test_permission_hint_names_agent_pool_actions_and_a_role_that_has_them(
    arm_emulator: ArmEmulator, kaitoctl_azure_env: Any
) -> None:
    from kaitoctl.core.errors import CloudError

    kaitoctl_azure_env(arm_emulator)
    plan = _plan()
    arm_emulator.inject(
        Fault.forbidden(
            "Microsoft.ContainerService/managedClusters/agentPools/write",
            path=r"/agentpools/[^/]+$",
            method="PUT",
            scope=f"/subscriptions/{{subscription}}/resourceGroups/{RG}/providers/Microsoft.ContainerService"
            f"/managedClusters/{CLUSTER}/agentPools/{plan.placement.pool_name}",
        )
    )
    ops, _, _ = _preflight(arm_emulator, plan)
    with pytest.raises(CloudError) as info:
        _run_pool(ops, plan)
    assert info.value.code == "AuthorizationFailed" and info.value.exit_code == 4
    hint = info.value.hint or ""
    assert "Microsoft.ContainerService/managedClusters/agentPools/write" in hint
    assert "agentPools/delete" in hint and "Contributor role on the cluster" in hint
    assert "'Azure Kubernetes Service Contributor Role' does not" in hint


def test_every_current_sku_is_quota_checked_under_azures_family_name(
    arm_emulator: ArmEmulator, kaitoctl_azure_env: Any
) -> None:
    # Item 14: the emulator answers with Azure's spelling of each family (catalog.GPU_FAMILIES, cited); a wrong or
    # differently spelled name in presets.yaml must not let the family check pass silently.
    from kaitoctl.core.catalog import load_catalog
    from kaitoctl.core.errors import CloudError
    from tests.harness.aks_emulator import catalog

    kaitoctl_azure_env(arm_emulator)
    for family in catalog.gpu_families():
        arm_emulator.set_quota(family, 0)
    for sku in load_catalog().current_skus():
        with pytest.raises(CloudError) as info:
            _preflight(arm_emulator, _plan("phi-3", instance_type=sku.name))
        assert info.value.code == "QuotaExceeded", sku.name
        assert catalog.GPU_FAMILIES[sku.name] in info.value.message, (sku.name, info.value.message)


def test_quota_family_missing_from_azures_list_warns(arm_emulator: ArmEmulator, kaitoctl_azure_env: Any) -> None:
    from dataclasses import replace

    kaitoctl_azure_env(arm_emulator)
    plan = _plan()
    plan = replace(plan, sku=replace(plan.sku, quota_family="standardNVADSA10v9Family"))
    _, action, rec = _preflight(arm_emulator, plan)
    assert action == "create"
    assert any("standardNVADSA10v9Family" in w and "not checked" in w for w in rec.texts("warning")), rec.messages


@pytest.mark.parametrize(
    ("props", "field", "needle"),
    [
        ({"osDiskSizeGB": 64}, "osDiskSizeGB", "64 GB OS disk"),
        ({"osSKU": "AzureLinux"}, "osSKU", "OS SKU AzureLinux"),
        ({"vmSize": A100}, "--instance-type", f"runs {A100}"),
    ],
    ids=["os-disk", "os-sku", "vm-size"],
)
def test_immutable_pool_properties_refuse_then_recreate(
    arm_emulator: ArmEmulator, kaitoctl_azure_env: Any, props: dict[str, Any], field: str, needle: str
) -> None:
    # Item 15: AKS cannot change these in place (PropertyChangeNotAllowed); kaitoctl says so before writing, and
    # --recreate deletes the pool and creates it anew instead of looping on the advice.
    from kaitoctl.core.errors import InvalidInput

    kaitoctl_azure_env(arm_emulator)
    plan = _plan()
    name = plan.placement.pool_name
    _owned_pool(arm_emulator, plan, **props)
    with pytest.raises(InvalidInput) as info:
        _preflight(arm_emulator, plan)
    assert info.value.field == field and needle in info.value.message and info.value.exit_code == 2
    assert "--recreate" in (info.value.hint or "")

    ops, action, _ = _preflight(arm_emulator, plan, recreate=True)
    assert action == "recreate"
    _run_pool(ops, plan)
    pool = arm_emulator.pools()[name]["properties"]
    assert pool["vmSize"] == plan.sku.name and pool["osSKU"] == "Ubuntu" and pool["osDiskSizeGB"] >= 128
    assert pool["provisioningState"] == "Succeeded"
    writes = [r["method"] for r in arm_emulator.requests() if r["method"] in ("PUT", "DELETE")]
    assert writes[-2:] == ["DELETE", "PUT"]


def test_a_larger_os_disk_is_kept_not_shrunk(arm_emulator: ArmEmulator, kaitoctl_azure_env: Any) -> None:
    kaitoctl_azure_env(arm_emulator)
    plan = _plan()
    _owned_pool(arm_emulator, plan, osDiskSizeGB=512, count=0)
    ops, action, _ = _preflight(arm_emulator, plan)
    assert action == "scale"
    _run_pool(ops, plan)
    pool = arm_emulator.pools()[plan.placement.pool_name]["properties"]
    assert pool["osDiskSizeGB"] == 512 and pool["count"] == 1


def test_emulator_refuses_os_disk_and_os_sku_changes(aks_client: Any) -> None:
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(osDiskSizeGB=128)).result()
    for change in ({"osDiskSizeGB": 256}, {"osSKU": "AzureLinux"}):
        with pytest.raises(HttpResponseError) as info:
            aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(**change)).result()
        assert info.value.status_code == 400 and info.value.error.code == "PropertyChangeNotAllowed"
    aks_client.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", gpu_pool(count=2)).result()  # omitted: kept


def test_new_pool_copies_the_pod_subnet(make_arm_emulator: Any, kaitoctl_azure_env: Any) -> None:
    # Item 16: Azure CNI with a pod subnet rejects a pool without one.
    emu = kaitoctl_azure_env(make_arm_emulator(pod_subnet=True))
    with pytest.raises(HttpResponseError) as info:
        sdk_client(emu).agent_pools.begin_create_or_update(RG, CLUSTER, "plain", gpu_pool()).result()
    assert "All or none of the agentpools should set podsubnet" in str(info.value)
    plan = _plan()
    ops, action, _ = _preflight(emu, plan)
    assert action == "create"
    _run_pool(ops, plan)
    system = emu.pools()["nodepool1"]["properties"]
    pool = emu.pools()[plan.placement.pool_name]["properties"]
    assert pool["podSubnetID"] == system["podSubnetID"] and pool["vnetSubnetID"] == system["vnetSubnetID"]


def test_a_pool_being_deleted_is_waited_for_then_created(arm_emulator: ArmEmulator, kaitoctl_azure_env: Any) -> None:
    # Item 17: after an interrupted `kaitoctl delete` the pool is Deleting; following it to 404 is not a pool.
    kaitoctl_azure_env(arm_emulator)
    plan = _plan()
    name = plan.placement.pool_name
    _owned_pool(arm_emulator, plan)
    arm_emulator.inject(Fault.slow(1.5, method="DELETE"))
    sdk_client(arm_emulator).agent_pools.begin_delete(RG, CLUSTER, name)  # not waited for
    ops, action, _ = _preflight(arm_emulator, plan)
    assert action == "create"
    _run_pool(ops, plan)
    pool = arm_emulator.pools()[name]["properties"]
    assert pool["provisioningState"] == "Succeeded" and pool["count"] == 1
    writes = [r["method"] for r in arm_emulator.requests() if r["method"] in ("PUT", "DELETE")]
    assert writes == ["PUT", "DELETE", "PUT"]


@pytest.mark.parametrize(
    ("fault", "code", "hint"),
    [
        (
            lambda: Fault.throttle(10, method="GET", path=r"/agentpools/[^/]+$"),
            "SubscriptionRequestsThrottled",
            "throttling",
        ),
        (lambda: Fault.server_error(503, times=10, method="GET"), "ServiceUnavailable", "transient"),
        (
            lambda: Fault.error(
                400,
                "VMSizeNotSupported",
                "The VM size Standard_NV36ads_A10_v5 is not supported for this agent pool.",  # wording unverified
                method="GET",
                path=r"/agentpools/[^/]+$",
            ),
            "VMSizeNotSupported",
            "--instance-type",
        ),
    ],
    ids=["throttled", "5xx-keeps-arm-code", "vm-size-not-supported"],
)
def test_arm_errors_keep_their_code_and_get_a_next_step(
    arm_emulator: ArmEmulator, kaitoctl_azure_env: Any, fault: Any, code: str, hint: str
) -> None:
    # Item 19.
    from kaitoctl.core.errors import CloudError

    kaitoctl_azure_env(arm_emulator)
    arm_emulator.inject(fault())
    with pytest.raises(CloudError) as info:
        _ops(arm_emulator).aks.get_pool("gpu")
    assert info.value.code == code and hint in (info.value.hint or ""), info.value.to_dict()


def test_retail_price_is_linux_pay_as_you_go_or_says_none_is_listed(
    make_arm_emulator: Any, kaitoctl_azure_env: Any
) -> None:
    # Item 19: Cloud Services and zero-priced items are not the pool's price; an empty answer is "no price listed".
    from tests.harness.aks_emulator import catalog

    emu = kaitoctl_azure_env(make_arm_emulator())
    plan = _plan()
    _, _, rec = _preflight(emu, plan)
    size = catalog.lookup(plan.sku.name)
    assert size is not None
    assert f"cost: ${catalog.linux_hourly_price(size):.2f}/h" in " ".join(rec.texts("info")), rec.messages

    far = kaitoctl_azure_env(make_arm_emulator(location="brazilsouth"))  # no items for this region
    _, _, rec = _preflight(far, plan)
    assert f"cost: no Azure retail price listed for {plan.sku.name} in brazilsouth" in rec.texts("info")
