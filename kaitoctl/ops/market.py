"""Prices and free quota for choosing a SKU: live from Azure for a real run, from the local price cache for dry
runs and `presets show` (no network there unless asked)."""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kaitoctl.adapters import aks as azure
from kaitoctl.core.catalog import Catalog, Sku
from kaitoctl.core.errors import CloudError
from kaitoctl.core.ranking import Market
from kaitoctl.ops.interfaces import AksApi

PRICE_WORKERS = 6  # one Retail Prices API request per SKU; a dozen SKUs in two rounds


def default_region() -> tuple[str | None, str]:
    """The region to price in without a cluster: $AZURE_DEFAULTS_LOCATION or az's `defaults.location`
    (`az config set defaults.location=...`, stored in $AZURE_CONFIG_DIR/config), else the region priced last.
    Returns (region, where it came from)."""
    env = os.environ.get("AZURE_DEFAULTS_LOCATION")
    if env:
        return env.strip().lower(), "AZURE_DEFAULTS_LOCATION"
    config_dir = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    parser = configparser.ConfigParser()
    try:
        parser.read(config_dir / "config", encoding="utf-8")
        location = parser.get("defaults", "location", fallback="").strip()
    except (configparser.Error, OSError, UnicodeDecodeError):
        location = ""
    if location:
        return location.lower(), "az config defaults.location"
    regions = azure.cached_regions()
    if regions:
        return regions[0], "the region priced last"
    return None, "no region known"


def cached_market(region: str, skus: Iterable[Sku], *, spot: bool = False) -> Market:
    """Prices from the cache only (no network): what a dry run and `presets show` can say."""
    prices = {}
    for sku in skus:
        price = azure.cached_price(sku.name, region, spot=spot)
        if price is not None:
            prices[sku.name.lower()] = price
    return Market(region, prices, None, spot, source="cached retail prices")


def fetch_prices(region: str, skus: Iterable[Sku], *, spot: bool = False) -> tuple[dict[str, float], bool]:
    """Retail prices of the SKUs (cache first, then the API, in parallel). Returns (prices, whether the API
    answered for every SKU that was not cached)."""
    names = [s.name for s in skus]
    with ThreadPoolExecutor(max_workers=PRICE_WORKERS, thread_name_prefix="prices") as pool:
        answers = list(pool.map(lambda n: azure.price_lookup(n, region, spot=spot), names))
    prices = {n.lower(): p for n, (p, _) in zip(names, answers, strict=True) if p is not None}
    return prices, all(status != "unreachable" for _, status in answers)


def live_market(aks: AksApi, skus: Iterable[Sku], *, spot: bool = False) -> tuple[Market | None, str | None]:
    """The cluster's region, its free vCPU quota and the SKUs' prices. (None, why) when Azure cannot say: the
    plan then falls back to the GPU-memory order and says why."""
    skus = list(skus)
    try:
        location = str(aks.cluster().get("location") or "")
        usages = aks.usages(location) if location else None
    except CloudError as exc:
        return None, f"Azure not reachable ({exc.code or 'error'})"
    if not location:
        return None, "the cluster has no location"
    prices, answered = fetch_prices(location, skus, spot=spot)
    if not prices and not answered:
        # Still worth ranking within the free quota, in the GPU-memory order.
        return Market(location, {}, usages, spot, source="prices.azure.com unreachable"), None
    return Market(location, prices, usages, spot), None


def dry_run_market(catalog: Catalog, *, spot: bool = False) -> tuple[Market | None, str | None]:
    """A dry run's prices: the cache's, in the default region (no network). (None, why) when none are cached."""
    from kaitoctl.core.sizing import candidate_skus

    region, source = default_region()
    if region is None:
        return None, "dry run: no region known (set AZURE_DEFAULTS_LOCATION, or run once against the cluster)"
    market = cached_market(region, candidate_skus(catalog.skus.values()), spot=spot)
    if not market.prices:
        return None, f"dry run: no cached prices for {region} ({source})"
    return market, None
