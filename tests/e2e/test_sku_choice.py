"""Cost- and quota-aware SKU choice and Spot pools (issue 14 item 3), through the real Azure SDK against the ARM
emulator (its made-up retail prices and Compute usages, tests/harness/aks_emulator/prices.py and state.py), with
the pools' nodes in the local control plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaitoctl.core.naming import pool_name
from tests.e2e.kaitoctl_cli import base_env, objects_in, run, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.azure]

A10 = "Standard_NV36ads_A10_v5"
A100 = "Standard_NC24ads_A100_v4"
A100_FAMILY = "StandardNCADSA100v4Family"  # as the emulator (and the Compute usages API) spells it
PHI3 = "phi-3-mini-128k-instruct"


@pytest.fixture
def emu(cluster: Any, make_arm_emulator: Any) -> Any:
    return make_arm_emulator(cluster.kubeconfig, operation_seconds=0.5)


@pytest.fixture
def env(cluster: Any, emu: Any, tmp_path: Path) -> dict[str, str]:
    # A price cache of its own: the ranking and the dry run read it.
    return base_env(cluster, {**emu.env(), "KAITOCTL_ARM_POLL_INTERVAL": "0.1", "XDG_CACHE_HOME": str(tmp_path)})


def _ranking(data: dict[str, Any]) -> list[dict[str, Any]]:
    return list(data["plan"]["ranking"])


def test_the_cheapest_sku_that_fits_is_chosen_not_the_smallest(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    # The emulator prices NC24ads A100 v4 below NV36ads A10 v5 (24 vCPUs against 36): price, not GPU memory, decides.
    data = run(["deploy", "phi-3", "-n", namespace, "-o", "json", "--no-progress"], env, timeout=120).check().json()
    ranking = _ranking(data)
    priced = [r["usdPerHour"] for r in ranking if r["usdPerHour"] is not None]
    assert priced == sorted(priced) and len(priced) == len(ranking)  # every SKU priced, cheapest first
    assert ranking[0]["instanceType"] == A100 and data["plan"]["instanceType"] == A100
    assert {r["instanceType"]: r["usdPerHour"] for r in ranking}[A10] > ranking[0]["usdPerHour"]
    assert all(r["quota"] == "ok" for r in ranking)
    assert data["plan"]["instanceTypeChoice"].startswith("cheapest that fits: pay-as-you-go price × nodes in eastus")
    assert data["plan"]["price"]["usdPerHour"] == data["pool"]["usdPerHour"] == ranking[0]["usdPerHour"]
    props = emu.pools()[pool_name(namespace, PHI3)]["properties"]
    assert props["vmSize"] == A100 and "scaleSetPriority" not in props
    # The usages were read once for the ranking and once by the quota preflight; prices once per SKU (then cached).
    assert len(emu.requests(method="GET", path=r"/usages$")) == 2
    assert len(emu.requests(method="GET", path=r"^/api/retail/prices")) == len(ranking)


def test_a_sku_short_of_quota_is_left_out(cluster: Any, namespace: str, emu: Any, env: dict[str, str]) -> None:
    emu.set_quota(A100_FAMILY, 100, current=90)  # 10 free; one NC24ads A100 v4 needs 24
    result = run(["deploy", "phi-3", "-n", namespace, "-o", "json", "--no-progress"], env, timeout=120).check()
    data = result.json()
    verdicts = {r["instanceType"]: r["quota"] for r in _ranking(data)}
    assert verdicts[A100] == "short" and data["plan"]["instanceType"] != A100
    assert _ranking(data)[-1]["quota"] == "short"  # never chosen: ranked last
    assert any(n.startswith("left out for quota: 1 × Standard_NC24ads_A100_v4 needs 24 vCPUs") for n in data["plan"]["notes"])
    assert emu.pools()[pool_name(namespace, PHI3)]["properties"]["vmSize"] == data["plan"]["instanceType"]


def test_no_sku_with_free_quota_stops_before_any_write(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    emu.set_quota("cores", 1000, current=1000)  # the regional total is used up: nothing fits
    result = run(["deploy", "phi-3", "-n", namespace, "-o", "json"], env, timeout=60)
    assert result.returncode == 4, result.stderr
    error = result.json()["error"]
    assert error["reason"] == "QuotaExceeded" and "has enough free vCPU quota in eastus" in error["message"]
    assert emu.requests(method="PUT") == [] and objects_in(cluster, namespace) == {}


def test_without_prices_the_gpu_memory_order_is_kept_and_said(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    offline = {**env, "KAITOCTL_PRICES_ENDPOINT": "http://127.0.0.1:9"}  # refuses at once
    data = run(["deploy", "phi-3", "-n", namespace, "-o", "json", "--no-progress"], offline, timeout=120).check().json()
    # No prices, but the quota was read: the GPU-memory order, within the free quota.
    assert data["plan"]["instanceType"] == A10
    assert data["plan"]["instanceTypeChoice"] == "smallest current SKU that fits, within the free vCPU quota"
    assert "SKU chosen by GPU memory, not by price: no pay-as-you-go prices in eastus (prices.azure.com unreachable)" in data["plan"]["notes"]
    assert all(r["usdPerHour"] is None for r in _ranking(data))


def test_spot_pool_its_price_warning_and_toleration(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    args = ["tune", "phi-3", "--method", "qlora", "--spot", "-n", namespace, "--no-progress", "--no-wait"]
    result = run([*args, "-o", "json"], env, timeout=120).check()
    data = result.json()
    assert data["plan"]["spot"] is True and data["plan"]["price"]["spot"] is True
    assert any("evicted tuning Job loses the progress" in w for w in data["plan"]["warnings"])
    assert data["plan"]["instanceTypeChoice"].startswith("cheapest that fits: Spot price × nodes")
    # The emulator's Spot meter is a fifth of pay-as-you-go (tests/harness/aks_emulator/prices.py).
    payg = run(["presets", "show", "phi-3", "--region", "eastus", "--refresh-prices", "-o", "json"], env).check().json()
    chosen = data["plan"]["instanceType"]
    on_demand = next(r["usdPerHour"] for r in payg["fit"] if r["sku"] == chosen)
    assert data["plan"]["price"]["usdPerHour"] == pytest.approx(on_demand * 0.2, abs=1e-3)
    props = emu.pools()[data["pool"]["name"]]["properties"]
    assert (props["scaleSetPriority"], props["scaleSetEvictionPolicy"], props["spotMaxPrice"]) == ("Spot", "Delete", -1)
    # The emulator lists no low-priority usage: said, not silently passed.
    assert "Spot vCPU quota not checked" in result.stderr
    # AKS taints Spot nodes; the Job's pod tolerates the taint and is scheduled there.
    core = cluster.core()

    def scheduled() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        return bool(pods) and all(p.spec.node_name for p in pods)

    wait_until(scheduled, "the tuning pod scheduled on a Spot node", timeout=60)
    node = core.read_node(core.list_namespaced_pod(namespace).items[0].spec.node_name)
    assert {(t.key, t.value, t.effect) for t in node.spec.taints} >= {
        ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
    }
    # status prices the Spot nodes at the cached Spot rate (the node's scalesetpriority label says Spot).
    item = run(["status", "-n", namespace, "-o", "json"], env).check().json()["items"][0]
    assert item["usdPerHour"] == data["plan"]["price"]["usdPerHour"]
    # Switching the same workspace to a regular pool needs --recreate.
    again = run(["tune", "phi-3", "--method", "qlora", "-n", namespace, "--no-wait", "--instance-type", chosen, "-o", "json"], env, timeout=60)
    assert again.returncode == 2 and again.json()["error"]["field"] == "--spot"


def test_dry_run_and_presets_show_use_the_cached_prices_without_azure(
    cluster: Any, namespace: str, emu: Any, env: dict[str, str]
) -> None:
    before = run(["deploy", "phi-3", "--dry-run"], env).check()
    assert "SKU chosen by GPU memory, not by price: dry run: no region known" in before.stderr
    shown = run(["presets", "show", "phi-3"], env).check()
    assert "$/H: unknown: no region" in shown.stdout
    run(["deploy", "phi-3", "-n", namespace, "-o", "json", "--no-progress", "--no-wait"], env, timeout=120).check()
    emu.requests()  # what the real run asked
    count = len(emu.requests())
    after = run(["deploy", "phi-3", "--dry-run"], env).check()
    assert f"{A100}: 1 ×" in after.stderr and "cost" in after.stderr and "eastus, cached retail prices" in after.stderr
    shown = run(["presets", "show", "phi-3"], env).check()
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines() if line.startswith("Standard_")}
    assert rows[A100][-1] != "unknown" and "(the region priced last; cached" in shown.stdout
    assert len(emu.requests()) == count  # neither asked Azure
