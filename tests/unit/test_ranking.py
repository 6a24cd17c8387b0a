"""Cost- and quota-aware SKU choice (issue 14 item 3): the pure ranking (core/ranking.py), the plan it decides,
the market ops gathers (ops/market.py: live, cached, no network in dry runs), Spot pools and `presets show`'s $/H."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kaitoctl.adapters import aks as azure
from kaitoctl.core.catalog import load_catalog
from kaitoctl.core.errors import CloudError
from kaitoctl.core.plan import build_plan
from kaitoctl.core.ranking import SMALLEST, Market, quota_verdict, rank_offers
from kaitoctl.core.spec import WorkspaceSpec
from kaitoctl.ops import market as ops_market
from kaitoctl.ops.pool import SPOT_PROPERTIES, PoolOperations, pool_body
from tests.unit.fakes import FakeAks, FakeKube
from tests.unit.helpers import deploy_spec, tune_spec

CAT = load_catalog()
A10 = CAT.sku("Standard_NV36ads_A10_v5")
A100 = CAT.sku("Standard_NC24ads_A100_v4")
H100 = CAT.sku("Standard_NC40ads_H100_v5")
assert A10 and A100 and H100
A10_FAMILY, A100_FAMILY = str(A10.quota_family), str(A100.quota_family)


def market(prices: dict[str, float], usages: dict[str, tuple[int, int]] | None = None, **kw: Any) -> Market:
    return Market("eastus", {k.lower(): v for k, v in prices.items()}, usages, **kw)


# ---- core: the ranking --------------------------------------------------------------------------------------------


def test_without_a_market_the_order_is_gpu_memory_and_the_plan_says_why() -> None:
    ranking = rank_offers([(H100, 1), (A100, 1), (A10, 1)], None, reason="Azure not reachable")
    assert [o.sku.name for o in ranking.offers] == [A10.name, A100.name, H100.name]
    assert ranking.basis == SMALLEST
    assert ranking.notes == ["SKU chosen by GPU memory, not by price: Azure not reachable"]
    assert all(o.usd_per_hour is None and o.quota == "unknown" for o in ranking.offers)


def test_the_cheapest_total_per_hour_wins_over_the_smallest() -> None:
    # The A10 is smaller but dearer here: price, not GPU memory, decides.
    ranking = rank_offers([(A10, 1), (A100, 1)], market({A10.name: 5.0, A100.name: 3.0}))
    assert ranking.chosen is not None and ranking.chosen.sku == A100
    assert [o.usd_per_hour for o in ranking.offers] == [3.0, 5.0]
    assert ranking.basis == "cheapest that fits: pay-as-you-go price × nodes in eastus (Azure retail prices)"


def test_the_price_is_per_node_times_nodes() -> None:
    # 2 × 2.0 = 4.0 costs more than 1 × 3.5
    ranking = rank_offers([(A10, 2), (A100, 1)], market({A10.name: 2.0, A100.name: 3.5}))
    assert [(o.sku.name, o.usd_per_hour) for o in ranking.offers] == [(A100.name, 3.5), (A10.name, 4.0)]


def test_skus_without_a_price_come_after_the_priced_ones_in_gpu_memory_order() -> None:
    ranking = rank_offers([(A10, 1), (A100, 1), (H100, 1)], market({H100.name: 9.0}))
    assert [o.sku.name for o in ranking.offers] == [H100.name, A10.name, A100.name]


def test_no_prices_at_all_falls_back_to_gpu_memory_and_says_so() -> None:
    ranking = rank_offers([(A100, 1), (A10, 1)], market({}, source="prices.azure.com unreachable"))
    assert ranking.chosen is not None and ranking.chosen.sku == A10
    assert ranking.basis.startswith(SMALLEST)
    assert "no pay-as-you-go prices in eastus (prices.azure.com unreachable)" in ranking.notes[0]


def test_quota_short_skus_are_never_chosen_even_when_cheapest() -> None:
    usages = {A10_FAMILY: (0, 100), A100_FAMILY: (80, 100), "cores": (0, 1000)}
    ranking = rank_offers([(A10, 1), (A100, 1)], market({A10.name: 5.0, A100.name: 3.0}, usages))
    assert ranking.chosen is not None and ranking.chosen.sku == A10
    assert [o.quota for o in ranking.offers] == ["ok", "short"]
    assert ranking.basis.endswith(", within the free vCPU quota")
    assert ranking.notes == [f"left out for quota: 1 × {A100.name} needs 24 vCPUs of {A100_FAMILY}, 20 free of 100"]


def test_quota_exactly_free_is_enough() -> None:
    assert quota_verdict(A100, 1, {A100_FAMILY: (76, 100), "cores": (0, 24)}, spot=False) == ("ok", None)
    verdict, _ = quota_verdict(A100, 1, {A100_FAMILY: (77, 100), "cores": (0, 100)}, spot=False)
    assert verdict == "short"


def test_the_regional_total_also_limits() -> None:
    verdict, detail = quota_verdict(A100, 1, {A100_FAMILY: (0, 100), "cores": (90, 100)}, spot=False)
    assert verdict == "short" and detail == f"1 × {A100.name} needs 24 vCPUs of cores, 10 free of 100"


def test_quota_unknown_when_unreadable_or_the_family_is_not_listed() -> None:
    assert quota_verdict(A100, 1, None, spot=False) == ("unknown", None)
    assert quota_verdict(A100, 1, {"cores": (0, 100)}, spot=False) == ("unknown", None)
    ranking = rank_offers([(A100, 1)], market({A100.name: 3.0}, None))
    assert ranking.notes == ["vCPU quota in eastus not read: SKUs ranked without it"]
    assert ranking.chosen is not None


def test_spot_uses_the_low_priority_quota_not_the_family() -> None:
    usages = {A100_FAMILY: (100, 100), "cores": (1000, 1000), "lowPriorityCores": (0, 24)}
    assert quota_verdict(A100, 1, usages, spot=True) == ("ok", None)
    assert quota_verdict(A100, 1, usages, spot=False)[0] == "short"
    assert quota_verdict(A100, 2, usages, spot=True)[0] == "short"
    ranking = rank_offers([(A100, 1)], market({A100.name: 0.7}, usages, spot=True))
    assert ranking.basis.startswith("cheapest that fits: Spot price × nodes")


# ---- core: the plan -----------------------------------------------------------------------------------------------


def phi3(**kw: Any) -> WorkspaceSpec:
    return deploy_spec("phi-3", name="w", namespace="default", **kw)


def test_the_plan_takes_the_first_of_the_ranking_and_carries_its_price() -> None:
    prices = {s.name: 10.0 for s in CAT.skus.values()} | {A100.name: 3.0}
    plan = build_plan(phi3(), CAT, placement_mode="pool", market=market(prices))
    assert plan.sku == A100 and plan.sku_choice.startswith("cheapest that fits")
    assert plan.usd_per_hour == 3.0
    summary = plan.summary()
    assert summary["price"] == {"usdPerHour": 3.0, "region": "eastus", "spot": False, "source": "Azure retail prices"}
    assert summary["ranking"][0] == {"instanceType": A100.name, "nodes": 1, "usdPerHour": 3.0, "quota": "unknown"}


def test_without_a_market_the_plan_is_what_it_always_was() -> None:
    plan = build_plan(phi3(), CAT, placement_mode="pool", no_market="Azure not configured")
    assert plan.sku == A10 and plan.sku_choice == SMALLEST and plan.usd_per_hour is None
    assert "SKU chosen by GPU memory, not by price: Azure not configured" in plan.notes
    assert plan.summary()["price"] is None


def test_a_given_instance_type_is_kept_and_priced() -> None:
    plan = build_plan(
        phi3(instance_type=H100.name), CAT, placement_mode="pool", market=market({A10.name: 1.0, H100.name: 7.0})
    )
    assert plan.sku == H100 and plan.sku_choice == "given" and plan.usd_per_hour == 7.0


def test_no_sku_with_free_quota_is_a_quota_error() -> None:
    usages = {str(s.quota_family): (0, 0) for s in CAT.skus.values() if s.quota_family} | {"cores": (0, 0)}
    with pytest.raises(CloudError) as err:
        build_plan(phi3(), CAT, placement_mode="pool", market=market({A10.name: 1.0}, usages))
    assert err.value.code == "QuotaExceeded" and "has enough free vCPU quota in eastus" in err.value.message
    assert "--instance-type" in str(err.value.hint)


def test_spot_marks_the_pool_and_warns_that_tuning_may_be_evicted() -> None:
    plan = build_plan(phi3(), CAT, placement_mode="pool", spot=True)
    assert plan.placement.spot and plan.summary()["spot"] is True
    assert any("may evict Spot nodes" in w for w in plan.warnings)
    tuning = build_plan(
        tune_spec("phi-3", name="t", namespace="default"),
        CAT,
        placement_mode="pool",
        spot=True,
    )
    assert any("evicted tuning Job loses the progress" in w for w in tuning.warnings)
    on_nodes = build_plan(phi3(), CAT, placement_mode="selector", spot=True)
    assert not on_nodes.placement.spot and any("ignored on existing nodes" in w for w in on_nodes.warnings)


# ---- ops: the pool ------------------------------------------------------------------------------------------------


def test_a_spot_pool_body_has_spot_priority_delete_eviction_and_no_price_cap() -> None:
    plan = build_plan(phi3(), CAT, placement_mode="pool", spot=True)
    props = pool_body(plan)["properties"]
    assert {k: props[k] for k in SPOT_PROPERTIES} == {
        "scaleSetPriority": "Spot",
        "scaleSetEvictionPolicy": "Delete",
        "spotMaxPrice": -1,
    }
    regular = pool_body(build_plan(phi3(), CAT, placement_mode="pool"))["properties"]
    assert not set(SPOT_PROPERTIES) & set(regular)


def _preflight(plan: Any, aks: FakeAks, **opts: Any) -> PoolOperations:
    from kaitoctl.adapters.aks import AksTarget
    from kaitoctl.ops.options import RunOptions

    ops = PoolOperations(AksTarget("s", "rg", "c"), RunOptions(**opts), FakeKube(), CAT, aks=aks)
    ops.preflight(plan)
    return ops


def test_a_spot_pool_is_checked_against_the_low_priority_quota() -> None:
    plan = build_plan(phi3(), CAT, placement_mode="pool", spot=True)
    family = str(plan.sku.quota_family)
    full_family = {family: (1000, 1000), "cores": (1000, 1000)}
    _preflight(plan, FakeAks(quota={**full_family, "lowPriorityCores": (0, 100)}))  # the family is not Spot's
    with pytest.raises(CloudError) as err:
        _preflight(plan, FakeAks(quota={**full_family, "lowPriorityCores": (90, 100)}))
    assert "Spot (low-priority) vCPUs" in err.value.message
    unlisted = _preflight(plan, FakeAks(quota=full_family))
    assert any("Spot vCPU quota not checked" in w for w in unlisted.warnings)


def test_a_pool_cannot_switch_between_spot_and_regular_without_recreate() -> None:
    from kaitoctl.core.errors import InvalidInput

    plan = build_plan(phi3(), CAT, placement_mode="pool", spot=True)
    existing = pool_body(build_plan(phi3(), CAT, placement_mode="pool"))
    existing["properties"]["provisioningState"] = "Succeeded"
    aks = FakeAks(pools={str(plan.placement.pool_name): existing})
    with pytest.raises(InvalidInput) as err:
        _preflight(plan, aks)
    assert err.value.field == "--spot" and "has Regular priority" in err.value.message
    assert _preflight(plan, aks, recreate=True).action == "recreate"


# ---- ops: gathering prices and quota -------------------------------------------------------------------------------


def cache(tmp: Path, entries: dict[str, float], *, age_s: float = 0) -> None:
    path = tmp / "kaitoctl" / "prices.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time() - age_s
    path.write_text(json.dumps({k: {"usd_per_hour": v, "at": now} for k, v in entries.items()}))


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def test_live_market_reads_the_cluster_region_usages_and_prices(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str, bool]] = []

    def lookup(sku: str, region: str, *, spot: bool = False, timeout_s: float = 5.0) -> Any:
        asked.append((sku, region, spot))
        return (2.5, "listed") if sku == A100.name else (None, "unlisted")

    monkeypatch.setattr(azure, "price_lookup", lookup)
    aks = FakeAks(location="westus2", quota={"cores": (0, 10)})
    found, why = ops_market.live_market(aks, [A10, A100], spot=True)
    assert why is None and found is not None
    assert (found.region, found.prices, found.usages, found.spot) == (
        "westus2",
        {A100.name.lower(): 2.5},
        {"cores": (0, 10)},
        True,
    )
    assert sorted(asked) == sorted([(A10.name, "westus2", True), (A100.name, "westus2", True)])


def test_live_market_without_azure_is_none_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    class Down(FakeAks):
        def cluster(self) -> Any:
            raise CloudError("x", code="ServiceUnreachable")

    found, why = ops_market.live_market(Down(), [A10])
    assert found is None and why == "Azure not reachable (ServiceUnreachable)"


def test_live_market_with_prices_unreachable_still_ranks_within_the_quota() -> None:
    # The unit tests' price endpoint refuses connections (tests/unit/conftest.py).
    found, why = ops_market.live_market(FakeAks(quota={"cores": (0, 10)}), [A10])
    assert why is None and found is not None
    assert found.prices == {} and found.usages == {"cores": (0, 10)} and found.source == "prices.azure.com unreachable"


def test_dry_run_prices_come_from_the_cache_of_the_default_region(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(azure, "price_lookup", lambda *a, **k: pytest.fail("a dry run made a network call"))
    assert ops_market.dry_run_market(CAT) == (
        None,
        "dry run: no region known (set AZURE_DEFAULTS_LOCATION, or run once against the cluster)",
    )
    cache(cache_dir, {f"westus2/{A100.name.lower()}": 3.0, f"eastus/{A10.name.lower()}": 1.0})
    monkeypatch.setenv("AZURE_DEFAULTS_LOCATION", "EastUS")
    found, _ = ops_market.dry_run_market(CAT)
    assert found is not None and found.region == "eastus" and found.prices == {A10.name.lower(): 1.0}
    assert found.source == "cached retail prices" and found.usages is None
    monkeypatch.delenv("AZURE_DEFAULTS_LOCATION")
    cache(cache_dir, {f"westus2/{A100.name.lower()}": 3.0})
    assert ops_market.default_region() == ("westus2", "the region priced last")
    spot, why = ops_market.dry_run_market(CAT, spot=True)
    assert spot is None and why == "dry run: no cached prices for westus2 (the region priced last)"


def test_az_config_default_location_is_a_default_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "config").write_text("[defaults]\nlocation = swedencentral\n")
    assert ops_market.default_region() == ("swedencentral", "az config defaults.location")


def test_spot_and_regular_prices_are_cached_apart(cache_dir: Path) -> None:
    azure._write_price_cache(azure._cache_key(A100.name, "eastus", True), 0.8)
    assert azure.cached_price(A100.name, "eastus", spot=True) == 0.8
    assert azure.cached_price(A100.name, "eastus") is None


def test_spot_meters_are_told_apart_from_pay_as_you_go() -> None:
    items = [
        {
            "productName": "Virtual Machines NCads A100 v4 Series",
            "skuName": "NC24ads A100 v4",
            "meterName": "NC24ads A100 v4",
            "unitOfMeasure": "1 Hour",
            "retailPrice": 3.67,
        },
        {
            "productName": "Virtual Machines NCads A100 v4 Series",
            "skuName": "NC24ads A100 v4 Spot",
            "meterName": "NC24ads A100 v4 Spot",
            "unitOfMeasure": "1 Hour",
            "retailPrice": 0.73,
        },
        {
            "productName": "Virtual Machines NCads A100 v4 Series",
            "skuName": "NC24ads A100 v4 Low Priority",
            "meterName": "NC24ads A100 v4 Low Priority",
            "unitOfMeasure": "1 Hour",
            "retailPrice": 0.5,
        },
        {
            "productName": "Virtual Machines NCads A100 v4 Series Windows",
            "skuName": "NC24ads A100 v4 Spot",
            "meterName": "NC24ads A100 v4 Spot",
            "unitOfMeasure": "1 Hour",
            "retailPrice": 0.9,
        },
    ]
    assert azure.linux_payg_prices(items) == [3.67]
    assert azure.linux_payg_prices(items, spot=True) == [0.73]


# ---- cli: presets show's $/H --------------------------------------------------------------------------------------


def test_presets_show_prices_from_the_cache_and_unknown_offline(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kaitoctl.cli.app import build_app

    monkeypatch.setattr(azure, "price_lookup", lambda *a, **k: pytest.fail("presets show made a network call"))
    cache(cache_dir, {f"eastus/{A100.name.lower()}": 3.5})
    out = CliRunner().invoke(build_app("presets"), ["presets", "show", "phi-3", "--region", "eastus"]).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("Standard_")}
    assert rows[A100.name][-1] == "3.50" and rows[A10.name][-1] == "unknown"
    assert "pay-as-you-go retail prices × nodes in eastus (--region; cached; unknown: not cached" in out
    # -o json: the price of one node (the table multiplies by the nodes).
    long = CliRunner().invoke(
        build_app("presets"), ["presets", "show", "llama-3.3-70b-instruct", "--region", "eastus", "-o", "json"]
    )
    data = json.loads(long.stdout)
    a100 = next(r for r in data["fit"] if r["sku"] == A100.name)
    assert a100["usdPerHour"] == 3.5 and data["pricing"]["region"] == "eastus"


def test_presets_show_refresh_prices_asks_azure(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kaitoctl.cli.app import build_app

    monkeypatch.setattr(azure, "price_lookup", lambda sku, region, **k: (1.25, "listed"))
    out = (
        CliRunner()
        .invoke(build_app("presets"), ["presets", "show", "phi-3", "--region", "eastus", "--refresh-prices", "--spot"])
        .stdout
    )
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("Standard_")}
    assert rows[A10.name][-1] == "1.25" and "Spot retail prices × nodes in eastus" in out


# ---- ops: a run's choice --------------------------------------------------------------------------------------------


def test_a_re_run_keeps_the_last_runs_sku_without_asking_azure() -> None:
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.run import choose_market
    from tests.unit.test_ops_run import store_record

    kube, aks = FakeKube(), FakeAks()
    existing = store_record(kube, phi3())  # ran on A100 nodes (not the A10 the GPU-memory order picks)
    spec, found, why = choose_market(phi3(), existing, aks, CAT, RunOptions())
    assert spec.resource.instance_type == A100.name and found is None and why is None
    assert aks.calls == []  # no cluster, usages or price request


def test_a_first_run_ranks_with_the_live_market() -> None:
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.run import choose_market

    aks = FakeAks(location="westus3", quota={"cores": (0, 1000)})
    spec, found, why = choose_market(phi3(), None, aks, CAT, RunOptions(spot=True))
    assert spec.resource.instance_type is None and why is None
    assert found is not None and found.region == "westus3" and found.spot
    from kaitoctl.core.naming import pool_name

    assert aks.calls == [("get_pool", pool_name("default", "w")), ("cluster",), ("usages", "westus3")]


def test_an_existing_pool_of_the_workspace_decides_the_sku() -> None:
    from kaitoctl.core.naming import pool_name
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.run import choose_market

    name = pool_name("default", "w")
    theirs = {"properties": {"vmSize": H100.name, "count": 2, "provisioningState": "Succeeded"}}
    aks = FakeAks(pools={name: theirs})
    spec, found, _ = choose_market(phi3(), None, aks, CAT, RunOptions(adopt=True))
    assert spec.resource.instance_type == H100.name and found is None
    assert aks.calls == [("get_pool", name)]
    going = FakeAks(pools={name: {"properties": {**theirs["properties"], "provisioningState": "Deleting"}}})
    spec, found, _ = choose_market(phi3(), None, going, CAT, RunOptions())
    assert spec.resource.instance_type is None and found is not None  # a pool being deleted decides nothing


def test_a_multi_node_plan_costs_every_node() -> None:
    big = deploy_spec("llama-3.3-70b-instruct", name="big", namespace="default", instance_type=A10.name)
    plan = build_plan(big, CAT, placement_mode="pool", market=market({A10.name: 2.0}))
    assert plan.placement.nodes > 1 and plan.usd_per_hour == 2.0 * plan.placement.nodes


def test_the_environment_wins_over_az_config_and_the_cache(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache(cache_dir, {f"westus2/{A100.name.lower()}": 3.0})
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "config").write_text("[defaults]\nlocation = SwedenCentral\n")
    assert ops_market.default_region() == ("swedencentral", "az config defaults.location")
    monkeypatch.setenv("AZURE_DEFAULTS_LOCATION", "uksouth")
    assert ops_market.default_region() == ("uksouth", "AZURE_DEFAULTS_LOCATION")


def test_recreate_ranks_again() -> None:
    from kaitoctl.ops.options import RunOptions
    from kaitoctl.ops.run import choose_market
    from tests.unit.test_ops_run import store_record

    existing = store_record(FakeKube(), phi3())
    aks = FakeAks()
    spec, found, _ = choose_market(phi3(), existing, aks, CAT, RunOptions(recreate=True))
    assert spec.resource.instance_type is None and found is not None and aks.calls[0] == ("cluster",)  # no pool read


def test_prices_written_from_parallel_lookups_are_all_kept(cache_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"eastus/sku{i}" for i in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: azure._write_price_cache(k, 1.0), keys))
    assert sorted(json.loads((cache_dir / "kaitoctl" / "prices.json").read_text())) == sorted(keys)


# ---- cli: the plan as printed ---------------------------------------------------------------------------------------


def test_the_printed_plan_shows_cost_spot_and_the_next_cheapest(capsys: pytest.CaptureFixture[str]) -> None:
    from kaitoctl.cli.output import print_plan

    # Spot draws on the low-priority quota (30 free): the A100's family being full does not matter, the A10's 36
    # and the H100's 40 vCPUs do not fit.
    usages = {A100_FAMILY: (100, 100), "cores": (0, 1000), "lowPriorityCores": (0, 30)}
    prices = {A10.name: 0.5, A100.name: 1.0, H100.name: 6.0}
    plan = build_plan(phi3(), CAT, placement_mode="pool", market=market(prices, usages, spot=True), spot=True)
    print_plan(plan, [])
    rows = _plan_rows(capsys.readouterr().err)
    assert rows["priority"] == "Spot: evictable at any time; evicted nodes are deleted"
    assert rows["cost"] == f"$1.00/h (1 × {A100.name}, Spot, eastus, Azure retail prices)"
    assert rows["next cheapest"].startswith(f"{A10.name} $0.50/h (quota short); {H100.name} $6.00/h (quota short); ")
    unknown = build_plan(phi3(instance_type=H100.name), CAT, placement_mode="pool", market=market({A10.name: 1.0}))
    print_plan(unknown, [])
    rows = _plan_rows(capsys.readouterr().err)
    assert rows["cost"] == f"unknown: no pay-as-you-go price for {H100.name} in eastus (Azure retail prices)"
    assert "priority" not in rows and "next cheapest" not in rows  # given: no ranking shown


def _plan_rows(text: str) -> dict[str, str]:
    import re

    return {m[0]: m[1] for m in re.findall(r"^  (\S+(?: \S+)*?)  +(.*)$", text, flags=re.MULTILINE)}


# ---- ops: status prices Spot nodes at the Spot rate ------------------------------------------------------------------


def test_status_prices_spot_nodes_at_the_spot_rate(cache_dir: Path) -> None:
    from tests.unit.test_ops_manage import deployed
    from tests.unit.test_ops_status import one

    kube, _, _ = deployed(pool=True)
    node = kube.obj("/api/v1/nodes/aks-node-0")
    assert node is not None
    node["metadata"]["labels"]["topology.kubernetes.io/region"] = "eastus"
    kube.put(node)
    sku = one(kube, "phi").sku.lower()
    cache(cache_dir, {f"eastus/{sku}": 3.2, f"eastus/{sku}/spot": 0.64})
    assert one(kube, "phi").usd_per_hour() == 3.2
    node["metadata"]["labels"]["kubernetes.azure.com/scalesetpriority"] = "spot"
    kube.put(node)
    status = one(kube, "phi")
    assert status.spot and status.usd_per_hour() == 0.64
