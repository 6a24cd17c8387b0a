"""The Azure Retail Prices API shape (GET /api/retail/prices?$filter=...), with MADE-UP prices.

Every item carries `"isEmulatorPrice": true` and a meterId starting with `emulator-`; the amounts come from
catalog.linux_hourly_price() and are only plausible in magnitude. The item fields and the envelope
({"BillingCurrency", "CustomerEntityId", "CustomerEntityType", "Items", "NextPageLink", "Count"}) follow the
public API. Per size and region there are Linux and Windows pay-as-you-go items, a Spot item and 1- and 3-year
reservations, as the real API lists them, plus a Cloud Services item and a zero-priced item (see all_items()).
Regions outside REGIONS have no items: the API then answers 200 with an empty list.

The $filter support is a small OData subset, enough for what a CLI sends: `field eq 'value'` clauses joined by
`and`, `or` inside parentheses, and `contains(field, 'text')`. Value comparison is case-insensitive (guess:
the live API has changed its case rules between versions).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import quote

from tests.harness.aks_emulator import catalog

PAGE_SIZE = 100
# armRegionName -> the display location the API puts in "location".
REGIONS = {
    "eastus": "US East",
    "eastus2": "US East 2",
    "westus2": "US West 2",
    "westus3": "US West 3",
    "southcentralus": "US South Central",
    "centralus": "US Central",
    "westeurope": "EU West",
    "northeurope": "EU North",
    "swedencentral": "SE Central",
    "uksouth": "UK South",
    "japaneast": "JA East",
    "australiaeast": "AU East",
}
# Regional price factor (emulator values).
_REGION_FACTOR = {"eastus": 1.0, "eastus2": 1.0, "westus2": 1.0, "southcentralus": 1.0, "centralus": 1.05}


def _sku_words(arm_sku: str) -> str:
    """Standard_NC24ads_A100_v4 -> "NC24ads A100 v4" (the API's skuName / meterName style)."""
    return arm_sku.removeprefix("Standard_").replace("_", " ")


@cache
def all_items() -> tuple[dict[str, Any], ...]:
    items: list[dict[str, Any]] = []
    for size in sorted(catalog.vm_sizes().values(), key=lambda s: s.name):
        words = _sku_words(size.name)
        # "NC24ads A100 v4" -> "NCads A100 v4 Series": the product is the series (guess at the exact
        # spelling).
        series = re.sub(r"^([A-Za-z]+)\d+", r"\1", words)
        for region, display in REGIONS.items():
            linux = round(catalog.linux_hourly_price(size) * _REGION_FACTOR.get(region, 1.1), 4)
            common = {
                "currencyCode": "USD",
                "tierMinimumUnits": 0.0,
                "armRegionName": region,
                "location": display,
                "effectiveStartDate": "2026-01-01T00:00:00Z",
                "productId": f"emulator-{series.replace(' ', '')}",
                "armSkuName": size.name,
                "serviceName": "Virtual Machines",
                "serviceId": "DZH313Z7MMC8",
                "serviceFamily": "Compute",
                "unitOfMeasure": "1 Hour",
                "isPrimaryMeterRegion": True,
                "isEmulatorPrice": True,
            }
            variants = [
                ("Consumption", f"Virtual Machines {series} Series", words, linux, None),
                # Spot meters carry "Spot" in skuName and meterName, as public tools filter them
                # (gist.github.com/JustinGrote/17341170ba16347ee24d5953ff3a33db, `contains(skuName,'Spot')`);
                # unverified against the live API. The 0.2 factor is made up.
                (
                    "Consumption",
                    f"Virtual Machines {series} Series",
                    f"{words} Spot",
                    round(linux * 0.2, 4),
                    None,
                ),
                (
                    "Consumption",
                    f"Virtual Machines {series} Series Windows",
                    words,
                    round(linux + 0.046 * size.vcpus, 4),
                    None,
                ),
                # Cloud Services (classic) meters for the same armSkuName, and a zero-priced meter: the live API
                # lists such items next to the VM ones (per the review in issue 9 of this project; their exact
                # names and prices here are unverified). Cheaper than Linux on purpose: a client that does not
                # skip them shows a wrong price.
                (
                    "Consumption",
                    f"Cloud Services {series} Series",
                    words,
                    round(linux * 0.9, 4),
                    None,
                ),
                ("Consumption", f"Virtual Machines {series} Series", words, 0.0, None),
                (
                    "Reservation",
                    f"Virtual Machines {series} Series",
                    words,
                    round(linux * 8760 * 0.6, 2),
                    "1 Year",
                ),
                (
                    "Reservation",
                    f"Virtual Machines {series} Series",
                    words,
                    round(linux * 26280 * 0.4, 2),
                    "3 Years",
                ),
            ]
            for kind, product, sku_name, price, term in variants:
                item = {
                    **common,
                    "retailPrice": price,
                    "unitPrice": price,
                    "meterId": f"emulator-{size.name.lower()}-{region}-{len(items)}",
                    "meterName": sku_name,
                    "productName": product,
                    "skuId": f"emulator/{size.name}/{region}",
                    "skuName": sku_name,
                    "type": kind,
                }
                if term:
                    item["reservationTerm"] = term
                items.append(item)
    return tuple(items)


_CLAUSE_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_CLAUSE_CONTAINS = re.compile(r"^\s*contains\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
# OData field name -> item key. priceType is the filter name of the item's "type".
_FIELDS = {"pricetype": "type"}


def _split(expr: str, word: str) -> list[str]:
    """Split on ` and ` / ` or ` outside quotes and parentheses."""
    parts: list[str] = []
    depth, quoted, start, i = 0, False, 0, 0
    token = f" {word} "
    low = expr.lower()
    while i < len(expr):
        ch = expr[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and low.startswith(token, i):
            parts.append(expr[start:i])
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def _field(item: dict[str, Any], name: str) -> str:
    key = _FIELDS.get(name.lower(), name)
    for k, v in item.items():
        if k.lower() == key.lower():
            return str(v)
    return ""


def _wrapped(expr: str) -> bool:
    """True when one pair of parentheses encloses the whole expression."""
    if not (expr.startswith("(") and expr.endswith(")")):
        return False
    depth, quoted = 0, False
    for i, ch in enumerate(expr):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth == 0 and i < len(expr) - 1:
                return False
    return True


Predicate = Callable[[dict[str, Any]], bool]


def compile_filter(expr: str) -> Predicate:
    expr = expr.strip()
    alternatives = _split(expr, "or")
    if len(alternatives) > 1:
        anys = [compile_filter(p) for p in alternatives]
        return lambda item: any(f(item) for f in anys)
    conjuncts = _split(expr, "and")
    if len(conjuncts) > 1:
        alls = [compile_filter(p) for p in conjuncts]
        return lambda item: all(f(item) for f in alls)
    if _wrapped(expr):
        return compile_filter(expr[1:-1])
    m = _CLAUSE_EQ.match(expr)
    if m:
        name, value = m.group(1), m.group(2).replace("''", "'").lower()
        return lambda item: _field(item, name).lower() == value
    m = _CLAUSE_CONTAINS.match(expr)
    if m:
        name, value = m.group(1), m.group(2).replace("''", "'").lower()
        return lambda item: value in _field(item, name).lower()
    raise ValueError(f"unsupported $filter clause: {expr!r}")


def query(filter_expr: str | None, skip: int, base_url: str) -> dict[str, Any]:
    """One page of the answer; NextPageLink is an absolute URL with $skip, as the live API pages."""
    items = list(all_items())
    if filter_expr:
        pred = compile_filter(filter_expr)
        items = [i for i in items if pred(i)]
    page = items[skip : skip + PAGE_SIZE]
    next_link = None
    if skip + PAGE_SIZE < len(items):
        next_link = f"{base_url}/api/retail/prices?$skip={skip + PAGE_SIZE}"
        if filter_expr:
            next_link += f"&$filter={quote(filter_expr)}"
    return {
        "BillingCurrency": "USD",
        "CustomerEntityId": "Default",
        "CustomerEntityType": "Retail",
        "Items": page,
        "NextPageLink": next_link,
        "Count": len(page),
    }
