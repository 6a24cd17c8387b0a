"""Choosing a SKU by price and quota: the SKUs that fit, ranked by what their nodes cost per hour, without those
the region's free vCPU quota cannot hold. Pure: prices and usages come in as values (ops gathers them).

Without prices (Azure not configured or unreachable) the order is the one kaitoctl always used: one node before
several, then the least GPU memory bought, then the fewest vCPUs; the choice says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kaitoctl.core.catalog import Sku

# The Compute usages row for the whole region, and the one Spot VMs draw on instead of their family's: Azure
# refuses a Spot VM with "exceeding approved LowPriorityCores quota", and public tools read a regional
# `lowPriorityCores` row from the usages list; the row's exact name is not verified against a Microsoft document.
REGIONAL_USAGE = "cores"
SPOT_USAGE = "lowPriorityCores"

SMALLEST = "smallest current SKU that fits"  # the choice without prices (what kaitoctl always did)

QuotaVerdict = Literal["ok", "short", "unknown"]


def quota_key(name: str) -> str:
    """A usage name as kaitoctl compares it: Azure spells one family `StandardNCADSA100v4Family`,
    `standardNCADSA100v4Family` or `Standard NDASv4_A100 Family` depending on API version and tool."""
    return re.sub(r"[\s_]", "", name).lower()


def find_usage(usages: dict[str, tuple[int, int]], family: str) -> tuple[str, tuple[int, int]] | None:
    """The usage row of a quota family (Azure's name and (current, limit)), ignoring case, spaces and `_`."""
    wanted = quota_key(family)
    for name, value in usages.items():
        if quota_key(name) == wanted:
            return name, value
    return None


def gpu_memory_key(sku: Sku, nodes: int) -> tuple[bool, float, int, int]:
    """The order without prices: one node (no Ray) first, then the least GPU memory bought, then fewer vCPUs."""
    return (nodes > 1, nodes * sku.total_gpu_memory_gib, nodes * sku.vcpus, nodes * sku.gpus)


@dataclass(frozen=True)
class Market:
    """What Azure says about one region. prices: SKU name (lower case) -> USD per node-hour, absent when unknown;
    usages: the Compute usages (name -> (current, limit)), None when they could not be read. `source` names where
    the prices come from (the Retail Prices API, or the local cache in a dry run)."""

    region: str
    prices: dict[str, float]
    usages: dict[str, tuple[int, int]] | None
    spot: bool = False
    source: str = "Azure retail prices"


@dataclass(frozen=True)
class Offer:
    """One SKU that fits: its node count, what the nodes cost per hour (None: no price), and the quota verdict."""

    sku: Sku
    nodes: int
    usd_per_hour: float | None  # all nodes
    quota: QuotaVerdict
    quota_detail: str | None = None  # why short: which usage, how much is needed and free

    @property
    def vcpus(self) -> int:
        return self.nodes * self.sku.vcpus


@dataclass(frozen=True)
class Ranking:
    """The offers, best first; the ones the quota cannot hold come last (and are never chosen). `basis` is the
    sentence the plan shows for why the first one was chosen."""

    offers: list[Offer]
    basis: str
    notes: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> Offer | None:
        return next((o for o in self.offers if o.quota != "short"), None)


def quota_verdict(
    sku: Sku, nodes: int, usages: dict[str, tuple[int, int]] | None, *, spot: bool
) -> tuple[QuotaVerdict, str | None]:
    """Whether `nodes` new nodes of `sku` fit in the free vCPUs: the family's and the region's (on-demand), or the
    region's Spot (low-priority) quota. "unknown" when the usages are unreadable or list no row for it."""
    if usages is None:
        return "unknown", None
    need = nodes * sku.vcpus
    rows = [SPOT_USAGE] if spot else [*([sku.quota_family] if sku.quota_family else []), REGIONAL_USAGE]
    # The row that decides: the family's (on-demand) or the Spot one; without it the verdict is unknown.
    deciding = False
    for row in rows:
        found = find_usage(usages, row)
        if found is None:
            continue
        deciding = deciding or row != REGIONAL_USAGE
        name, (current, limit) = found
        free = limit - current
        if need > free:
            return "short", f"{nodes} × {sku.name} needs {need} vCPUs of {name}, {max(free, 0)} free of {limit}"
    return ("ok", None) if deciding else ("unknown", None)


def rank_offers(fits: Iterable[tuple[Sku, int]], market: Market | None, *, reason: str | None = None) -> Ranking:
    """Rank the SKUs that fit (with their node counts). With a market: cheapest total per hour first, SKUs without
    a price after them (by GPU memory), and SKUs the free quota cannot hold last. Without one: by GPU memory, and
    the basis says why (`reason`: why there are no prices)."""
    pairs = sorted(fits, key=lambda p: gpu_memory_key(*p))
    if market is None:
        offers = [Offer(s, n, None, "unknown") for s, n in pairs]
        why = f": {reason}" if reason else ""
        return Ranking(offers, SMALLEST, [f"SKU chosen by GPU memory, not by price{why}"])
    offers = []
    for sku, nodes in pairs:
        price = market.prices.get(sku.name.lower())
        verdict, detail = quota_verdict(sku, nodes, market.usages, spot=market.spot)
        offers.append(Offer(sku, nodes, None if price is None else price * nodes, verdict, detail))
    # Stable sort: within each group the GPU-memory order decides ties and unpriced SKUs.
    offers.sort(key=lambda o: (o.quota == "short", o.usd_per_hour is None, o.usd_per_hour or 0.0))
    notes = []
    kind = "Spot" if market.spot else "pay-as-you-go"
    priced = [o for o in offers if o.usd_per_hour is not None]
    if not priced:
        basis = SMALLEST
        notes.append(f"SKU chosen by GPU memory, not by price: no {kind} prices in {market.region} ({market.source})")
    else:
        basis = f"cheapest that fits: {kind} price × nodes in {market.region} ({market.source})"
    if market.usages is None:
        notes.append(f"vCPU quota in {market.region} not read: SKUs ranked without it")
    else:
        basis += ", within the free vCPU quota"
    short = [o for o in offers if o.quota == "short"]
    if short:
        notes.append("left out for quota: " + "; ".join(str(o.quota_detail) for o in short))
    return Ranking(offers, basis, notes)
