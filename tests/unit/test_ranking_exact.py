"""core/ranking.py, exactly: how a usage row is found whatever Azure's spelling, the order without prices (its
tie-breaks), the quota verdict's detail, and every sentence of the basis and the notes the plan shows."""

from __future__ import annotations

from kaitoctl.core.catalog import Sku
from kaitoctl.core.ranking import (
    SMALLEST,
    Market,
    Offer,
    Ranking,
    find_usage,
    gpu_memory_key,
    quota_key,
    quota_verdict,
    rank_offers,
)


def sku(name: str, gpus: int = 1, memory: float = 24.0, vcpus: int = 36, family: str | None = "FamA") -> Sku:
    return Sku(name, gpus, "NVIDIA A10", memory, vcpus, 440.0, True, "8.6", family, None, "current", None)


SMALL = sku("Small", memory=24.0, vcpus=36)
BIG = sku("Big", memory=80.0, vcpus=24, family="FamB")


def test_a_usage_name_is_compared_without_case_spaces_or_underscores() -> None:
    assert quota_key("Standard NDASv4_A100 Family") == "standardndasv4a100family"
    assert quota_key("StandardNCADSA100v4Family") == "standardncadsa100v4family"
    assert quota_key(" a\tB_c ") == "abc"
    usages = {"cores": (1, 2), "Standard NCADS_A100v4 Family": (3, 4)}
    assert find_usage(usages, "standardNCADSA100v4Family") == ("Standard NCADS_A100v4 Family", (3, 4))
    assert find_usage(usages, "StandardNDFamily") is None
    assert find_usage({}, "cores") is None


def test_without_prices_one_node_comes_first_then_gpu_memory_then_vcpus_then_gpus() -> None:
    assert gpu_memory_key(SMALL, 1) == (False, 24.0, 36, 1)
    assert gpu_memory_key(BIG, 2) == (True, 160.0, 48, 2)
    few_vcpus = sku("FewVcpus", memory=24.0, vcpus=12)
    two_halves = sku("TwoHalves", gpus=2, memory=12.0, vcpus=12)
    ranking = rank_offers([(BIG, 2), (SMALL, 1), (two_halves, 1), (few_vcpus, 1), (BIG, 1)], None)
    assert [(o.sku.name, o.nodes) for o in ranking.offers] == [
        ("FewVcpus", 1),
        ("TwoHalves", 1),
        ("Small", 1),
        ("Big", 1),
        ("Big", 2),
    ]
    assert ranking == Ranking(
        ranking.offers, SMALLEST, ["SKU chosen by GPU memory, not by price"]
    )  # no reason given: no colon
    assert [o.vcpus for o in ranking.offers] == [12, 12, 36, 24, 48]


def test_the_quota_detail_names_the_row_what_is_needed_and_never_a_negative_free() -> None:
    over = {"FamA": (120, 100), "cores": (0, 1000)}
    assert quota_verdict(SMALL, 2, over, spot=False) == ("short", "2 × Small needs 72 vCPUs of FamA, 0 free of 100")
    assert quota_verdict(SMALL, 1, {"fam_a": (0, 36), "cores": (0, 36)}, spot=False) == ("ok", None)
    # a SKU with no quota family is decided by no row of its own
    nofamily = sku("NoFamily", family=None)
    assert quota_verdict(nofamily, 1, {"cores": (0, 1000)}, spot=False) == ("unknown", None)
    assert quota_verdict(nofamily, 1, {"cores": (1000, 1000)}, spot=False) == (
        "short",
        "1 × NoFamily needs 36 vCPUs of cores, 0 free of 1000",
    )
    # Spot: only the low-priority row counts; without it the verdict is unknown
    assert quota_verdict(SMALL, 1, {"FamA": (0, 0), "cores": (0, 0)}, spot=True) == ("unknown", None)
    assert quota_verdict(SMALL, 1, {"low_priority cores": (0, 35)}, spot=True) == (
        "short",
        "1 × Small needs 36 vCPUs of low_priority cores, 35 free of 35",
    )


def test_every_sentence_of_a_ranking_with_prices_quota_and_shortfalls() -> None:
    third = sku("Third", memory=40.0, vcpus=48, family="FamC")
    market = Market(
        "westeurope",
        {"small": 1.0, "big": 0.5},
        {"FamA": (0, 36), "FamB": (100, 100), "FamC": (0, 10), "cores": (0, 1000)},
        source="the local price cache",
    )
    ranking = rank_offers([(SMALL, 1), (BIG, 1), (third, 1)], market, reason="ignored with a market")
    assert ranking == Ranking(
        [
            Offer(SMALL, 1, 1.0, "ok"),
            Offer(BIG, 1, 0.5, "short", "1 × Big needs 24 vCPUs of FamB, 0 free of 100"),
            Offer(third, 1, None, "short", "1 × Third needs 48 vCPUs of FamC, 10 free of 10"),
        ],
        "cheapest that fits: pay-as-you-go price × nodes in westeurope (the local price cache), "
        "within the free vCPU quota",
        [
            "left out for quota: 1 × Big needs 24 vCPUs of FamB, 0 free of 100; "
            "1 × Third needs 48 vCPUs of FamC, 10 free of 10"
        ],
    )
    assert ranking.chosen == Offer(SMALL, 1, 1.0, "ok")


def test_a_spot_market_without_prices_or_usages_says_both() -> None:
    market = Market("eastus", {}, None, spot=True, source="Azure retail prices")
    ranking = rank_offers([(BIG, 1), (SMALL, 1)], market)
    assert ranking == Ranking(
        [Offer(SMALL, 1, None, "unknown"), Offer(BIG, 1, None, "unknown")],
        SMALLEST,
        [
            "SKU chosen by GPU memory, not by price: no Spot prices in eastus (Azure retail prices)",
            "vCPU quota in eastus not read: SKUs ranked without it",
        ],
    )


def test_a_free_price_of_zero_still_counts_as_priced() -> None:
    ranking = rank_offers([(SMALL, 1), (BIG, 1)], Market("eastus", {"big": 0.0}, None))
    assert [(o.sku.name, o.usd_per_hour) for o in ranking.offers] == [("Big", 0.0), ("Small", None)]
    assert ranking.basis == "cheapest that fits: pay-as-you-go price × nodes in eastus (Azure retail prices)"
    both = rank_offers([(SMALL, 1), (BIG, 1)], Market("eastus", {"small": 0.5, "big": 0.0}, None))
    assert [(o.sku.name, o.usd_per_hour) for o in both.offers] == [("Big", 0.0), ("Small", 0.5)]


def test_when_every_offer_is_short_none_is_chosen() -> None:
    ranking = rank_offers([(SMALL, 1)], Market("eastus", {"small": 1.0}, {"FamA": (36, 36)}))
    assert ranking.chosen is None
    assert ranking.notes == ["left out for quota: 1 × Small needs 36 vCPUs of FamA, 0 free of 36"]
