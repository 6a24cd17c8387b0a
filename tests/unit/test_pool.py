"""Pure parts of the AKS pool logic: quota family matching, subnets for a new pool, reserved node labels, the
retail price filter and the permission hint (issue 9, items 13, 14, 16, 18, 19)."""

from __future__ import annotations

from typing import Any

import pytest

from kaitoctl.adapters.aks import PERMISSION_HINT, linux_payg_prices
from kaitoctl.core.catalog import load_catalog
from kaitoctl.core.validation import aks_reserved_labels
from kaitoctl.ops.pool import find_usage, pool_body, quota_key, subnets_of
from tests.unit.helpers import deploy_spec, plan_of

USAGES = {
    "cores": (4, 1000),
    "StandardNCADSA100v4Family": (24, 48),
    "Standard NDASv4_A100 Family": (0, 96),
    "StandardNCCads2023Family": (0, 40),
}


@pytest.mark.parametrize(
    ("family", "row"),
    [
        ("standardNCADSA100v4Family", "StandardNCADSA100v4Family"),  # case
        ("StandardNDASv4_A100Family", "Standard NDASv4_A100 Family"),  # spaces and `_`
        ("standard ndasv4 a100 family", "Standard NDASv4_A100 Family"),
        ("CORES", "cores"),
    ],
)
def test_quota_family_matches_ignoring_case_spaces_and_underscores(family: str, row: str) -> None:
    assert find_usage(USAGES, family) == (row, USAGES[row])


def test_quota_family_not_found_is_none_not_a_near_miss() -> None:
    assert find_usage(USAGES, "StandardNCCadsH100v5Family") is None  # the old wrong name of NCC H100 v5
    assert find_usage(USAGES, "StandardNCADSA100v4") is None
    assert quota_key("Standard NCASv3_T4 Family") == "standardncasv3t4family"


def test_every_current_sku_names_a_quota_family() -> None:
    # Azure's names as found in public lists (the emulator's table); presets.yaml must agree with them.
    from tests.harness.aks_emulator.catalog import GPU_FAMILIES

    for sku in load_catalog().skus.values():
        assert sku.quota_family, sku.name
        assert quota_key(sku.quota_family) == quota_key(GPU_FAMILIES[sku.name]), sku.name


def test_new_pool_takes_the_clusters_subnets_user_pools_first() -> None:
    vnet = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets"
    cluster: dict[str, Any] = {
        "properties": {
            "agentPoolProfiles": [
                {"name": "sys", "mode": "System", "vnetSubnetID": f"{vnet}/sys", "podSubnetID": f"{vnet}/pods"},
                {"name": "user", "mode": "User", "vnetSubnetID": f"{vnet}/user", "podSubnetID": f"{vnet}/upods"},
            ]
        }
    }
    assert subnets_of(cluster) == {"vnetSubnetID": f"{vnet}/user", "podSubnetID": f"{vnet}/upods"}
    cluster["properties"]["agentPoolProfiles"].pop()
    assert subnets_of(cluster) == {"vnetSubnetID": f"{vnet}/sys", "podSubnetID": f"{vnet}/pods"}
    assert subnets_of({"properties": {"agentPoolProfiles": [{"name": "sys", "mode": "System"}]}}) == {}
    body = pool_body(plan_of(deploy_spec()), subnets_of(cluster))["properties"]
    assert body["podSubnetID"] == f"{vnet}/pods" and body["vnetSubnetID"] == f"{vnet}/sys"


@pytest.mark.parametrize(
    "key",
    [
        "kubernetes.azure.com/mode",
        "kubernetes.io/role",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
    ],
)
def test_labels_aks_reserves_block_a_pool_but_not_existing_nodes(key: str) -> None:
    assert aks_reserved_labels({key: "x", "apps": "phi"}) == [key]
    spec = deploy_spec(labels=[f"{key}=x"])
    blockers = plan_of(spec, placement_mode="pool").blockers
    assert [b.field for b in blockers] == ["--label"]
    assert key in blockers[0].message and blockers[0].exit_code == 2
    assert plan_of(spec, placement_mode="selector").blockers == []  # selecting existing nodes by them is fine


def test_ordinary_labels_are_not_reserved() -> None:
    assert aks_reserved_labels({"apps": "phi", "example.com/gpu": "a100", "node.kubernetes.io/purpose": "x"}) == []
    assert plan_of(deploy_spec(labels=["apps=phi"]), placement_mode="pool").blockers == []


def _item(product: str, sku: str, price: float, unit: str = "1 Hour") -> dict[str, Any]:
    return {"productName": product, "skuName": sku, "meterName": sku, "retailPrice": price, "unitOfMeasure": unit}


def test_retail_price_filter_keeps_only_linux_pay_as_you_go() -> None:
    items = [
        _item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", 3.673),
        _item("Virtual Machines NCads A100 v4 Series Windows", "NC24ads A100 v4", 4.777),
        _item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4 Win", 1.0),
        _item("Cloud Services NCads A100 v4 Series", "NC24ads A100 v4", 0.5),
        _item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4 Spot", 0.7),
        _item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4 Low Priority", 0.6),
        _item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", 0.0),
        _item("Virtual Machines NCads A100 v4 Series", "NC24ads A100 v4", 2.0, unit="1 GB/Month"),
    ]
    assert linux_payg_prices(items) == [3.673]
    assert linux_payg_prices([]) == []


def test_permission_hint_names_the_actions_and_a_role_that_has_them() -> None:
    for action in ("read", "agentPools/read", "agentPools/write", "agentPools/delete"):
        assert f"Microsoft.ContainerService/managedClusters/{action}" in PERMISSION_HINT
    assert "Microsoft.Compute/locations/usages/read" in PERMISSION_HINT
    assert "Contributor role on the cluster" in PERMISSION_HINT
    assert "'Azure Kubernetes Service Contributor Role' does not" in PERMISSION_HINT
