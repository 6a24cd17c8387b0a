"""AKS node pool decisions (ops/pool.py) against an in-memory AKS (tests/unit/fakes.py FakeAks)."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from kaitoctl.adapters.aks import AksTarget
from kaitoctl.core.errors import CloudError, InvalidInput
from kaitoctl.core.plan import Plan
from kaitoctl.ops.options import RunOptions
from kaitoctl.ops.pool import MIN_OS_DISK_GB, PoolOperations, owner_of, pool_body, release_pool, resolve_target
from kaitoctl.ops.progress import Progress
from kaitoctl.ops.run import PlacementChoice, plan_for
from kaitoctl.ops.watch import Update
from tests.unit import helpers
from tests.unit.fakes import FakeAks, FakeKube, RecordingReporter

TARGET = AksTarget("sub", "rg", "aks")
VM = "Standard_NV36ads_A10_v5"
FAMILY = "standardNVADSA10v5Family"


def plan(preset: str = "phi-3", *, tune: bool = False, count: int | None = None) -> Plan:
    where = PlacementChoice("pool", aks_target=TARGET)
    if tune:
        spec = helpers.tune_spec(preset, name="phi", namespace="ns", input_urls=["https://example.com/d.parquet"])
    else:
        # vLLM sizes the node count itself; transformers takes --count.
        runtime = "transformers" if count else None
        spec = helpers.deploy_spec(preset, name="phi", namespace="ns", count=count, runtime=runtime)
    return plan_for(spec, RunOptions(), helpers.catalog(), where)


def pool_ops(aks: FakeAks, *, kube: FakeKube | None = None, **opts: Any) -> PoolOperations:
    return PoolOperations(TARGET, RunOptions(**opts), kube or FakeKube(), helpers.catalog(), aks=aks)


def existing(**props: Any) -> dict[str, Any]:
    """The pool kaitoctl created for ns/phi, as ARM returns it, with `props` changed."""
    body = pool_body(plan())["properties"]
    return {"name": plan().placement.pool_name, "properties": {**body, "provisioningState": "Succeeded", **props}}


def test_pool_body_is_the_arm_shape_kaitoctl_wants() -> None:
    p = plan()
    assert pool_body(p) == {
        "properties": {
            "count": 1,
            "vmSize": VM,
            "mode": "User",
            "type": "VirtualMachineScaleSets",
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "osDiskSizeGB": MIN_OS_DISK_GB,
            "nodeLabels": {"kaitoctl.io/workspace": "phi", "kaitoctl.io/workspace-namespace": "ns"},
            "nodeTaints": ["sku=gpu:NoSchedule"],
            "tags": {"managed-by": "kaitoctl", "kaitoctl-workspace": "ns/phi"},
        }
    }
    assert MIN_OS_DISK_GB == 128


def test_pool_disk_follows_the_preset_and_the_mode() -> None:
    assert pool_body(plan("phi-4"))["properties"]["osDiskSizeGB"] == 128  # inference: 107 GiB, raised to the minimum
    assert pool_body(plan("phi-4", tune=True))["properties"]["osDiskSizeGB"] == 150  # tuning's own size


def test_owner_of_reads_kaitoctl_tags() -> None:
    assert owner_of(existing()) == "ns/phi"
    assert owner_of({"properties": {"tags": {"managed-by": "someone"}}}) is None
    assert owner_of({"tags": {"managed-by": "kaitoctl", "kaitoctl-workspace": "a/b"}}) == "a/b"
    assert owner_of({"properties": {}}) is None


# ---- preflight -----------------------------------------------------------------------------------------------------


def test_a_new_pool_is_created_after_a_quota_check() -> None:
    aks = FakeAks(quota={FAMILY: (0, 36), "cores": (10, 100)})
    ops = pool_ops(aks)
    assert ops.preflight(plan()) == "create"
    assert ops.location == "eastus"
    assert aks.calls == [("cluster",), ("get_pool", plan().placement.pool_name), ("usages", "eastus")]


@pytest.mark.parametrize(
    ("quota", "label", "needed_left"),
    [
        ({FAMILY: (1, 36)}, f"{FAMILY} vCPUs", "needs 36 more, 35 of 36 left (in use: 1)"),
        ({FAMILY: (0, 100), "cores": (70, 100)}, "total regional vCPUs", "needs 36 more, 30 of 100 left (in use: 70)"),
    ],
)
def test_not_enough_quota_is_refused_before_any_write(quota: Any, label: str, needed_left: str) -> None:
    aks = FakeAks(quota=quota)
    with pytest.raises(CloudError) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.code == "QuotaExceeded"
    assert refused.value.message == f"not enough {label} in eastus: 1 × {VM} {needed_left}"
    assert [c[0] for c in aks.calls] == ["cluster", "get_pool", "usages"]


def test_quota_counts_only_the_extra_nodes() -> None:
    aks = FakeAks(pools={plan(count=2).placement.pool_name or "": existing(count=1)}, quota={FAMILY: (36, 72)})
    assert pool_ops(aks).preflight(plan(count=2)) == "scale"  # 1 more node: 36 vCPUs, exactly what is left
    aks = FakeAks(pools={plan().placement.pool_name or "": existing()})
    pool_ops(aks).preflight(plan())
    assert ("usages", "eastus") not in aks.calls  # no extra nodes: no quota call


def test_a_family_azure_does_not_list_is_a_warning_not_a_silent_pass() -> None:
    aks = FakeAks(quota={"cores": (0, 1000)})
    ops = pool_ops(aks)
    assert ops.preflight(plan()) == "create"
    assert ops.warnings == [
        f"vCPU quota of {VM}'s family not checked: Azure lists no usage named like StandardNVADSA10v5Family in eastus"
    ]
    aks_limited = FakeAks(quota={"otherFamily": (100, 100)})
    ops = pool_ops(aks_limited)
    assert ops.preflight(plan()) == "create"
    assert len(ops.warnings) == 2 and "'cores'" in ops.warnings[1]


def test_quota_family_is_matched_ignoring_case_spaces_and_underscores() -> None:
    aks = FakeAks(quota={"Standard NVADSA10v5 Family": (1, 36), "cores": (0, 1000)})
    with pytest.raises(CloudError) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.message == (
        f"not enough Standard NVADSA10v5 Family vCPUs in eastus: 1 × {VM} needs 36 more, 35 of 36 left (in use: 1)"
    )


def test_forbidden_usages_skip_the_quota_check_with_one_warning() -> None:
    reporter = RecordingReporter()
    ops = pool_ops(FakeAks(usages_forbidden=True))
    assert ops.preflight(plan(), Progress(reporter, [])) == "create"
    warnings = [text for level, text in reporter.messages if level == "warning"]
    assert warnings == ops.warnings and len(warnings) == 1
    assert warnings[0].startswith("vCPU quota not checked: your identity may not read the Compute usages")


@pytest.mark.parametrize(
    ("props", "action"),
    [
        ({}, "unchanged"),
        ({"count": 2}, "scale"),
        ({"nodeLabels": {"kaitoctl.io/workspace": "phi"}}, "update"),
        ({"provisioningState": "Failed"}, "update"),
        ({"provisioningState": "Canceled", "count": 3}, "scale"),
        ({"provisioningState": "Updating"}, "wait"),
        ({"provisioningState": "Creating", "count": 3}, "wait"),
    ],
)
def test_an_existing_pool_of_ours_is_reused(props: dict[str, Any], action: str) -> None:
    aks = FakeAks(pools={plan().placement.pool_name or "": existing(**props)}, quota={FAMILY: (0, 1000)})
    ops = pool_ops(aks)
    assert ops.preflight(plan()) == action
    assert ops.action == action
    assert [c for c in aks.calls if c[0].startswith("begin")] == []


def test_a_pool_of_another_workspace_is_refused() -> None:
    other = existing(tags={"managed-by": "kaitoctl", "kaitoctl-workspace": "team/other"})
    aks = FakeAks(pools={plan().placement.pool_name or "": other})
    with pytest.raises(CloudError) as refused:
        pool_ops(aks, adopt=True).preflight(plan())
    assert refused.value.code == "PoolConflict"
    assert refused.value.message == f"agent pool {plan().placement.pool_name} belongs to kaitoctl workspace team/other"


def test_a_foreign_pool_needs_adopt() -> None:
    foreign = existing(tags={"owner": "ops-team"})
    aks = FakeAks(pools={plan().placement.pool_name or "": foreign})
    with pytest.raises(CloudError) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.code == "PoolConflict"
    assert refused.value.message == f"agent pool {plan().placement.pool_name} exists and was not created by kaitoctl"
    assert refused.value.hint == (
        "re-run with --adopt to let kaitoctl use it (it is scaled up if needed, never down, and given back as it was "
        "on cleanup), or choose another --name"
    )
    # Adopting writes kaitoctl's tags next to the pool's own (an update even when the count is right).
    assert pool_ops(aks, adopt=True).preflight(plan()) == "update"


def test_a_pool_s_vm_size_cannot_change() -> None:
    aks = FakeAks(pools={plan().placement.pool_name or "": existing(vmSize="Standard_NC24ads_A100_v4")})
    with pytest.raises(InvalidInput) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.field == "--instance-type"
    assert refused.value.problem == (
        f"agent pool {plan().placement.pool_name} runs Standard_NC24ads_A100_v4; a pool's VM size cannot change"
    )
    assert refused.value.fix == (
        f"re-run with --recreate (deletes agent pool {plan().placement.pool_name} after the workload and creates it "
        "anew), or choose another --name"
    )


def test_vm_size_compares_case_insensitively() -> None:
    aks = FakeAks(pools={plan().placement.pool_name or "": existing(vmSize=VM.lower())})
    assert pool_ops(aks).preflight(plan()) == "unchanged"


def test_preflight_reports_the_price_from_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import json
    import time

    cache = tmp_path / "kaitoctl" / "prices.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({f"eastus/{VM}".lower(): {"usd_per_hour": 3.2, "at": time.time()}}))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    reporter = RecordingReporter()
    pool_ops(FakeAks(quota={FAMILY: (0, 100), "cores": (0, 100)})).preflight(plan(count=2), Progress(reporter, []))
    assert reporter.messages == [("info", f"cost: $6.40/h for 2 × {VM} in eastus (pay-as-you-go retail price)")]


# ---- the operation -------------------------------------------------------------------------------------------------


def updates(q: queue.Queue[Update]) -> list[dict[str, Any]]:
    out = []
    while not q.empty():
        out.append(q.get_nowait().obj)
    return out


def test_create_installs_the_device_plugin_and_puts_the_pool() -> None:
    kube = FakeKube()
    aks = FakeAks()
    ops = pool_ops(aks, kube=kube)
    p = plan()
    ops.preflight(p)
    q: queue.Queue[Update] = queue.Queue()
    ops.start(p, q)
    ops.finish(5)
    name = p.placement.pool_name
    assert ("begin_put_pool", name, pool_body(p)) in aks.calls
    assert aks.pools[name or ""]["properties"]["provisioningState"] == "Succeeded"
    what = f"agent pool {name}: 1 × {VM}"
    assert updates(q) == [
        {"state": "Creating", "action": what},
        {"state": "Creating", "action": what},  # on_status: InProgress
        {"state": "Succeeded", "action": f"agent pool {name}: create"},
    ]
    applied = [c[1] for c in kube.writes()]
    assert applied and all("nvidia-device-plugin" in path for path in applied)


def test_no_device_plugin_flag_and_an_existing_plugin_skip_the_install() -> None:
    kube = FakeKube()
    ops = pool_ops(FakeAks(), kube=kube, no_device_plugin=True)
    ops.preflight(plan())
    ops.start(plan(), queue.Queue())
    ops.finish(5)
    assert kube.writes() == []
    kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": "gpu-op",
                "namespace": "gpu",
                "labels": {"app.kubernetes.io/managed-by": "gpu-operator"},
            },
        }
    )
    assert pool_ops(FakeAks(), kube=kube).ensure_device_plugin() == "present"
    assert kube.writes() == []


def test_unchanged_posts_success_without_a_put() -> None:
    aks = FakeAks(pools={plan().placement.pool_name or "": existing()})
    ops = pool_ops(aks)
    ops.preflight(plan())
    q: queue.Queue[Update] = queue.Queue()
    ops.start(plan(), q)
    ops.finish(5)
    assert updates(q) == [{"state": "Succeeded", "action": "unchanged"}]
    assert [c for c in aks.calls if c[0] == "begin_put_pool"] == []
    assert ops.thread is None


def test_a_failed_create_says_how_to_remove_the_half_created_pool() -> None:
    aks = FakeAks(fail_wait=CloudError("creating agent pool: boom", code="OperationFailed", hint="see above"))
    ops = pool_ops(aks, no_device_plugin=True)
    ops.preflight(plan())
    q: queue.Queue[Update] = queue.Queue()
    ops.start(plan(), q)
    with pytest.raises(CloudError) as failed:
        ops.finish(5)
    assert failed.value.hint == "see above — the half-created pool is removed by `kaitoctl delete phi`"
    assert updates(q)[-1] == {"state": "Failed", "error": failed.value}


def test_a_failed_scale_keeps_its_hint() -> None:
    aks = FakeAks(
        pools={plan().placement.pool_name or "": existing(count=3)},
        fail_wait=CloudError("scaling: boom", code="OperationFailed", hint="see above"),
    )
    ops = pool_ops(aks, no_device_plugin=True)
    assert ops.preflight(plan()) == "scale"
    ops.start(plan(), queue.Queue())
    with pytest.raises(CloudError) as failed:
        ops.finish(5)
    assert failed.value.hint == "see above"


def test_wait_follows_the_running_operation_instead_of_putting() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(provisioningState="Updating")})
    ops = pool_ops(aks)
    ops.preflight(plan())
    aks.pools[name]["properties"]["provisioningState"] = "Succeeded"
    q: queue.Queue[Update] = queue.Queue()
    ops.start(plan(), q)
    ops.finish(5)
    assert updates(q) == [
        {"state": "waiting for the running operation"},
        {"state": "Succeeded", "action": "wait"},
        {"state": "Succeeded", "action": f"agent pool {name}: wait"},
    ]
    assert [c for c in aks.calls if c[0].startswith("begin")] == []


def test_a_running_operation_that_fails_fails_the_run() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(provisioningState="Updating")})
    ops = pool_ops(aks)
    ops.preflight(plan())
    aks.pools[name]["properties"]["provisioningState"] = "Canceled"
    ops.start(plan(), queue.Queue())
    with pytest.raises(CloudError) as failed:
        ops.finish(5)
    assert failed.value.message == f"the running operation on agent pool {name} ended Canceled"


# ---- release -------------------------------------------------------------------------------------------------------


def test_release_deletes_only_our_pool() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing()})
    assert release_pool(aks, name, "ns/other") == "kept (not created by kaitoctl for ns/other)"
    assert name in aks.pools
    assert release_pool(aks, name, "ns/phi") == "deleted"
    assert name not in aks.pools
    assert release_pool(aks, name, "ns/phi") == "absent"
    assert [c[0] for c in aks.calls if c[0].startswith("begin")] == ["begin_delete_pool"]


def test_keep_pool_scales_to_zero_keeping_its_shape() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(count=2, enableAutoScaling=False)})
    assert release_pool(aks, name, "ns/phi", keep_pool=True) == "scaled to 0"
    (put,) = [c for c in aks.calls if c[0] == "begin_put_pool"]
    expected = {k: v for k, v in existing()["properties"].items() if k not in ("count", "provisioningState")}
    assert put[2] == {"properties": {**expected, "count": 0}}


def test_keep_pool_scales_a_spot_pool_to_zero_as_a_spot_pool() -> None:
    # Azure fixes a pool's priority at creation: a scale PUT without it would ask for a Regular pool.
    name = plan().placement.pool_name or ""
    spot = {"scaleSetPriority": "Spot", "scaleSetEvictionPolicy": "Delete", "spotMaxPrice": -1}
    aks = FakeAks(pools={name: existing(count=2, **spot)})
    assert release_pool(aks, name, "ns/phi", keep_pool=True) == "scaled to 0"
    (put,) = [c for c in aks.calls if c[0] == "begin_put_pool"]
    assert {k: put[2]["properties"].get(k) for k in spot} == spot and put[2]["properties"]["count"] == 0


# ---- the target ----------------------------------------------------------------------------------------------------


def test_resolve_target_from_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAITOCTL_ARM_ENDPOINT", raising=False)
    monkeypatch.delenv("KAITOCTL_ARM_CA_BUNDLE", raising=False)
    opts = RunOptions(subscription="s", resource_group="rg", aks_cluster="c", cloud="AzureChinaCloud")
    assert resolve_target(opts, FakeKube()) == AksTarget("s", "rg", "c", "azurechinacloud", None, None)
    assert resolve_target(RunOptions(subscription="s"), FakeKube()) is None  # not an AKS context, no flags


def test_resolve_target_refusals(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))  # no az default subscription
    with pytest.raises(InvalidInput) as refused:
        resolve_target(RunOptions(cloud="Mars"), None)
    assert refused.value.field == "--cloud"
    with pytest.raises(InvalidInput) as refused:
        resolve_target(RunOptions(resource_group="rg", aks_cluster="c"), None)
    assert refused.value.field == "--subscription"
    with pytest.raises(InvalidInput) as refused:
        resolve_target(RunOptions(subscription="s", aks_cluster="c"), None)
    assert (refused.value.field, refused.value.problem) == ("--resource-group", "the AKS cluster is only partly named")
    with pytest.raises(InvalidInput) as refused:
        resolve_target(RunOptions(subscription="s", resource_group="rg"), None)
    assert refused.value.field == "--cluster"


# ---- what AKS cannot change, subnets, a pool being deleted (issue 9, items 15-17) ------------------------------------


@pytest.mark.parametrize(
    ("props", "field", "problem"),
    [
        ({"osDiskSizeGB": 64}, "osDiskSizeGB", "has a 64 GB OS disk; phi-3-mini-128k-instruct needs 128 GB"),
        ({"osSKU": "AzureLinux"}, "osSKU", "runs OS SKU AzureLinux; kaitoctl's GPU pools run Ubuntu"),
    ],
)
def test_os_disk_and_os_sku_are_compared_like_the_vm_size(props: dict[str, Any], field: str, problem: str) -> None:
    aks = FakeAks(pools={plan().placement.pool_name or "": existing(**props)}, quota={FAMILY: (0, 1000)})
    with pytest.raises(InvalidInput) as refused:
        pool_ops(aks).preflight(plan())
    assert refused.value.field == field and problem in refused.value.problem
    assert pool_ops(aks, recreate=True).preflight(plan()) == "recreate"


def test_a_larger_os_disk_is_kept_in_the_put() -> None:
    aks = FakeAks(
        pools={plan().placement.pool_name or "": existing(osDiskSizeGB=512, count=0)}, quota={FAMILY: (0, 100)}
    )
    ops = pool_ops(aks, no_device_plugin=True)
    assert ops.preflight(plan()) == "scale"
    ops.start(plan(), queue.Queue())
    ops.finish(5)
    (put,) = [c for c in aks.calls if c[0] == "begin_put_pool"]
    assert put[2]["properties"]["osDiskSizeGB"] == 512


def test_recreate_deletes_first_then_creates_and_counts_the_freed_quota() -> None:
    name = plan().placement.pool_name or ""
    old = existing(vmSize="Standard_NV72ads_A10_v5", count=1)
    # 72 in use by the old pool; the new one needs 36: fits only because the old pool's vCPUs are freed.
    aks = FakeAks(pools={name: old}, quota={FAMILY: (72, 100), "cores": (72, 100)})
    ops = pool_ops(aks, recreate=True, no_device_plugin=True)
    assert ops.preflight(plan()) == "recreate"
    ops.start(plan(), queue.Queue())
    assert ("wait", f"deleting agent pool {name} (--recreate)") in aks.calls  # done when start returns
    ops.finish(5)
    # The delete is waited for before the PUT (and before start returns, i.e. before the workload is applied).
    assert [c[0] for c in aks.calls if c[0] in ("begin_delete_pool", "begin_put_pool", "wait")][:3] == [
        "begin_delete_pool",
        "wait",
        "begin_put_pool",
    ]
    assert [c[0] for c in aks.calls if c[0].startswith("begin")] == ["begin_delete_pool", "begin_put_pool"]
    assert aks.pools[name]["properties"]["vmSize"] == VM


def test_a_new_pool_takes_the_clusters_subnets() -> None:
    subnets = {"vnetSubnetID": "/subscriptions/s/x/subnets/nodes", "podSubnetID": "/subscriptions/s/x/subnets/pods"}
    aks = FakeAks(
        quota={FAMILY: (0, 100), "cores": (0, 100)}, pool_profiles=[{"name": "sys", "mode": "System", **subnets}]
    )
    ops = pool_ops(aks, no_device_plugin=True)
    ops.preflight(plan())
    ops.start(plan(), queue.Queue())
    ops.finish(5)
    (put,) = [c for c in aks.calls if c[0] == "begin_put_pool"]
    assert put[2] == pool_body(plan(), subnets)


def test_a_deleting_pool_is_waited_for_then_created() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(provisioningState="Deleting")}, quota={FAMILY: (0, 100), "cores": (0, 100)})
    ops = pool_ops(aks, no_device_plugin=True)
    assert ops.preflight(plan()) == "create" and ops.after_delete
    aks.pools.pop(name)  # the delete ends
    ops.start(plan(), queue.Queue())
    ops.finish(5)
    assert [c[0] for c in aks.calls if c[0].startswith("begin")] == ["begin_put_pool"]
    assert aks.pools[name]["properties"]["provisioningState"] == "Succeeded"


def test_a_delete_that_fails_is_reported_not_followed_by_a_create() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(provisioningState="Deleting")}, quota={FAMILY: (0, 100), "cores": (0, 100)})
    ops = pool_ops(aks, no_device_plugin=True)
    ops.preflight(plan())
    aks.pools[name]["properties"]["provisioningState"] = "Failed"
    with pytest.raises(CloudError) as failed:
        ops.start(plan(), queue.Queue())
    assert failed.value.message == f"the delete of agent pool {name} ended Failed"
    assert [c for c in aks.calls if c[0].startswith("begin")] == []


def test_release_follows_a_delete_that_is_already_running() -> None:
    name = plan().placement.pool_name or ""
    aks = FakeAks(pools={name: existing(provisioningState="Deleting")})
    seen = {"n": 0}
    real_get = aks.get_pool

    def get_pool(pool: str) -> Any:
        seen["n"] += 1
        if seen["n"] == 3:
            aks.pools.pop(pool, None)  # the running delete ends
        return real_get(pool)

    aks.get_pool = get_pool  # type: ignore[method-assign]
    assert release_pool(aks, name, "ns/phi") == "deleted"
    assert [c for c in aks.calls if c[0].startswith("begin")] == []  # no second DELETE (AKS: OperationNotAllowed)


def test_the_az_cli_default_subscription(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import json

    from kaitoctl.ops.pool import az_default_subscription

    profile = {"subscriptions": [{"id": "other", "isDefault": False}, {"id": "sub-1", "isDefault": True}]}
    config = tmp_path / "config"
    config.mkdir()
    (config / "azureProfile.json").write_text(json.dumps(profile), encoding="utf-8-sig")  # az writes a BOM
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(config))
    assert az_default_subscription() == "sub-1"
    home = tmp_path / "home"
    (home / ".azure").mkdir(parents=True)
    (home / ".azure" / "azureProfile.json").write_text(json.dumps({"subscriptions": [{"id": "h", "isDefault": True}]}))
    monkeypatch.delenv("AZURE_CONFIG_DIR")
    monkeypatch.setenv("HOME", str(home))
    assert az_default_subscription() == "h"
    (home / ".azure" / "azureProfile.json").write_text("{not json")
    assert az_default_subscription() is None
    (home / ".azure" / "azureProfile.json").write_text(json.dumps({"subscriptions": [{"id": "x"}]}))
    assert az_default_subscription() is None


AKS_ID = "/subscriptions/sub/resourceGroups/Team-RG/providers/Microsoft.ContainerService/managedClusters/prod"


@pytest.mark.parametrize("fqdn_key", ["fqdn", "privateFQDN", "azurePortalFQDN"])
def test_an_aks_kube_context_names_its_cluster(monkeypatch: pytest.MonkeyPatch, fqdn_key: str) -> None:
    monkeypatch.setenv("KAITOCTL_ARM_ENDPOINT", "https://arm.local")
    monkeypatch.setenv("KAITOCTL_ARM_CA_BUNDLE", "/ca.pem")
    kube = FakeKube()
    kube.context.server = "https://prod-dns-1234.hcp.eastus.azmk8s.io:443"
    other = {"id": AKS_ID.replace("prod", "dev"), "name": "dev", "properties": {"fqdn": "dev.hcp.eastus.azmk8s.io"}}
    mine = {"id": AKS_ID, "name": "prod", "properties": {fqdn_key: "prod-dns-1234.hcp.eastus.azmk8s.io"}}
    aks = FakeAks(clusters=[other, mine])
    seen: list[AksTarget] = []

    def factory(target: AksTarget) -> FakeAks:
        seen.append(target)
        return aks

    found = resolve_target(RunOptions(subscription="sub"), kube, aks=factory)
    assert found == AksTarget("sub", "Team-RG", "prod", "azurecloud", "https://arm.local", "/ca.pem")
    assert seen == [AksTarget("sub", "", "", "azurecloud", "https://arm.local", "/ca.pem")]
    assert aks.calls == [("list_clusters",)]
    # A flag wins over what the context says.
    assert resolve_target(RunOptions(subscription="sub", resource_group="mine"), kube, aks=factory) == AksTarget(
        "sub", "mine", "prod", "azurecloud", "https://arm.local", "/ca.pem"
    )


def test_an_aks_context_that_matches_no_cluster_is_refused() -> None:
    kube = FakeKube()
    kube.context.server = "https://gone.hcp.eastus.azmk8s.io:443"
    aks = FakeAks(clusters=[{"id": AKS_ID, "name": "prod", "properties": {"fqdn": "prod.hcp.eastus.azmk8s.io"}}])
    with pytest.raises(InvalidInput) as refused:
        resolve_target(RunOptions(subscription="sub"), kube, aks=lambda _: aks)
    assert (refused.value.field, refused.value.problem) == ("--cluster", "the AKS cluster is only partly named")


def test_only_an_azmk8s_host_is_an_aks_context() -> None:
    kube = FakeKube()
    kube.context.server = "https://azmk8s.io.example.com:443"
    assert resolve_target(RunOptions(subscription="sub"), kube, aks=lambda _: FakeAks()) is None


def test_tagged_pools_and_orphans() -> None:
    from kaitoctl.ops.pool import TaggedPool, orphaned, tagged_pools

    aks = FakeAks()
    aks.pools = {
        "kc1": existing(),  # ns/phi
        "kc2": {
            "name": "kc2",
            "properties": {
                "count": 2,
                "vmSize": VM,
                "provisioningState": "Succeeded",
                "tags": {"managed-by": "kaitoctl", "kaitoctl-workspace": "b/q"},
            },
        },
        "nodepool1": {"name": "nodepool1", "properties": {"tags": {"kaitoctl-workspace": "ns/phi"}}},  # not ours
        "odd": {"name": "odd", "properties": {"tags": {"managed-by": "kaitoctl", "kaitoctl-workspace": "noslash"}}},
    }
    found = tagged_pools(aks)
    assert [(p.workspace, p.count) for p in found] == [("b/q", 2), ("ns/phi", 1)]
    assert found[0].to_dict() == {
        "pool": "kc2",
        "workspace": "q",
        "namespace": "b",
        "vmSize": VM,
        "count": 2,
        "provisioningState": "Succeeded",
    }
    assert orphaned(found, {("ns", "phi")}, None) == [found[0]]
    assert orphaned(found, set(), "ns") == [found[1]]
    assert orphaned(found, {("b", "q"), ("ns", "phi")}, None) == []
    assert isinstance(found[0], TaggedPool)
