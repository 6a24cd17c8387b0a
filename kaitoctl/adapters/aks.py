"""The Azure side effects: AKS agent pools, regional vCPU quota and retail prices, through the real Azure SDK.

Auth is azure-identity's DefaultAzureCredential (az login, service principal env, workload identity). The ARM
endpoint is the cloud's, or a custom one (KAITOCTL_ARM_ENDPOINT + KAITOCTL_ARM_CA_BUNDLE) for sovereign or local
emulators. Every Azure failure becomes a CloudError (exit code 4) with the ARM code and what to do about it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kaitoctl.core.errors import CloudError

# --cloud values and their ARM endpoints and login hosts.
CLOUDS: dict[str, tuple[str, str]] = {
    "azurecloud": ("https://management.azure.com", "login.microsoftonline.com"),
    "azurechinacloud": ("https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    "azureusgovernment": ("https://management.usgovcloudapi.net", "login.microsoftonline.us"),
}
PRICES_ENDPOINT = "https://prices.azure.com"
QUOTA_PORTAL = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas"

log = logging.getLogger("kaitoctl.azure")


@dataclass(frozen=True)
class AksTarget:
    subscription: str
    resource_group: str
    cluster: str
    cloud: str = "azurecloud"
    endpoint: str | None = None  # custom ARM endpoint
    ca_bundle: str | None = None

    @property
    def arm_endpoint(self) -> str:
        return self.endpoint or CLOUDS[self.cloud][0]


# The Azure RBAC actions kaitoctl uses, named in the permission hint. The built-in "Azure Kubernetes Service
# Contributor Role" (ed7f3fbd-...) grants only managedClusters/read and /write plus Microsoft.Resources/deployments/*
# (MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/containers.md): no agentPools/* actions.
POOL_ACTIONS = (
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.ContainerService/managedClusters/agentPools/read",
    "Microsoft.ContainerService/managedClusters/agentPools/write",
    "Microsoft.ContainerService/managedClusters/agentPools/delete",
)
USAGES_ACTION = "Microsoft.Compute/locations/usages/read"
PERMISSION_HINT = (
    f"your identity needs {', '.join(POOL_ACTIONS)} on the cluster (the built-in Contributor role on the cluster "
    "or its resource group has them; the 'Azure Kubernetes Service Contributor Role' does not), and "
    f"{USAGES_ACTION} on the subscription for the quota check"
)
_THROTTLED = "Azure Resource Manager is throttling this subscription; wait a minute and re-run"
_SKU_HINT = "choose another --instance-type (`kaitoctl presets skus`), or a cluster in another region"

_HINTS = {
    "QuotaExceeded": f"request more vCPU quota for the VM family in this region ({QUOTA_PORTAL}), "
    "or choose another --instance-type",
    "ErrCode_InsufficientVCPUQuota": f"request more vCPU quota ({QUOTA_PORTAL}), or choose another --instance-type",
    "SkuNotAvailable": _SKU_HINT,
    "VMSizeNotSupported": _SKU_HINT,
    "OperationNotAllowed": "another operation on this cluster or pool is running; wait for it, then re-run",
    "AuthorizationFailed": PERMISSION_HINT,
    "LinkedAuthorizationFailed": PERMISSION_HINT,
    "ExpiredAuthenticationToken": "your Azure credentials expired: run `az login` (or refresh the service principal)",
    "InvalidAuthenticationToken": "your Azure credentials were rejected: run `az login`",
    "ResourceNotFound": "check --subscription, --resource-group and --cluster",
    "NotFound": "check --subscription, --resource-group and --cluster",
    "TooManyRequests": _THROTTLED,
    # ARM's throttling codes (learn.microsoft.com azure-resource-manager/management/request-limits-and-throttling).
    "SubscriptionRequestsThrottled": _THROTTLED,
    "ResourceGroupRequestsThrottled": _THROTTLED,
    "TenantRequestsThrottled": _THROTTLED,
}


def _credentials_tried(exc: BaseException) -> list[str]:
    """The sources DefaultAzureCredential tried, from its error text: "Attempted credentials:" then one
    "\tNameCredential[: why]" line each (azure-identity, azure/identity/_credentials/chained.py,
    `_get_error_message`); [] for other errors."""
    import re

    text = str(exc)
    if "Attempted credentials:" not in text:
        return []
    return re.findall(r"^\t(\w+Credential)\b", text.split("Attempted credentials:", 1)[1], flags=re.MULTILINE)


def cloud_error(exc: BaseException, action: str) -> CloudError:
    """An Azure SDK exception as a CloudError with the ARM error code and a next step."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    try:
        from azure.identity import CredentialUnavailableError
    except ImportError:  # pragma: no cover
        CredentialUnavailableError = ClientAuthenticationError  # type: ignore[misc,assignment]

    tried = _credentials_tried(exc)
    if isinstance(exc, CredentialUnavailableError) or tried:
        # azure-identity's own text lists every source with a troubleshooting link; it goes to --debug only.
        log.debug("azure-identity: %s", exc)
        return CloudError(
            f"{action}: no usable Azure credentials" + (f" (tried: {', '.join(tried)})" if tried else ""),
            code="CredentialUnavailable",
            hint="run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (workload identity: "
            "AZURE_FEDERATED_TOKEN_FILE); --debug shows what each source answered",
        )
    if isinstance(exc, ServiceRequestError):
        return CloudError(
            f"{action}: cannot reach Azure Resource Manager ({exc.message})",
            code="ServiceUnreachable",
            hint="check the network, --cloud and KAITOCTL_ARM_ENDPOINT / KAITOCTL_ARM_CA_BUNDLE",
        )
    code = None
    message = str(exc)
    details: list[str] = []
    if isinstance(exc, HttpResponseError):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None)
        message = getattr(error, "message", None) or exc.message or str(exc)
        for detail in getattr(error, "details", None) or []:
            dcode = getattr(detail, "code", None)
            if dcode in ("QuotaExceeded", "SkuNotAvailable") and code not in _HINTS:
                code = dcode
            details.append(f"{dcode}: {getattr(detail, 'message', '')}")
        status = exc.status_code
        if code is None:
            code = {
                401: "InvalidAuthenticationToken",
                404: "NotFound",
                409: "OperationNotAllowed",
                429: "TooManyRequests",
            }.get(status or 0, f"HTTP{status}" if status else None)
        if status and status >= 500:
            # Keep ARM's own code (InternalServerError, ServiceUnavailable, GatewayTimeout, ...): it is what a
            # support request or a search needs.
            code = code or f"HTTP{status}"
            message = f"Azure returned HTTP {status} ({message}) after retries"
        if isinstance(exc, ClientAuthenticationError) and code in (None, "HTTP401"):
            code = "InvalidAuthenticationToken"
        lowered = message.lower()
        if "quota" in lowered and code in ("OperationNotAllowed", "BadRequest", "InvalidParameter"):
            code = "QuotaExceeded"
        if "not allowed in your subscription" in lowered or "currently not available in location" in lowered:
            code = "SkuNotAvailable"
    elif isinstance(exc, ClientAuthenticationError):
        code = "InvalidAuthenticationToken"
        message = str(exc).splitlines()[0]
    hint = _HINTS.get(code or "", "see the Azure error above")
    if isinstance(exc, HttpResponseError) and exc.status_code == 429 and code not in _HINTS:
        hint = _THROTTLED
    if isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500:
        hint = "a transient Azure failure; re-run the same command (it converges)"
    return CloudError(f"{action}: {message}", code=code, hint=hint, details=details)


class Aks:
    """Agent pools of one cluster, plus the regional quota and prices kaitoctl checks first."""

    def __init__(self, target: AksTarget, *, poll_interval: float | None = None) -> None:
        self.target = target
        self.poll_interval = (
            poll_interval if poll_interval is not None else float(os.environ.get("KAITOCTL_ARM_POLL_INTERVAL", "2"))
        )
        self._credential: Any = None
        self._containers: Any = None
        self._compute: Any = None

    # -- clients ----------------------------------------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"base_url": self.target.arm_endpoint, "polling_interval": self.poll_interval}
        if self.target.ca_bundle:
            kwargs["connection_verify"] = self.target.ca_bundle
        kwargs["user_agent"] = "kaitoctl"
        return kwargs

    def credential(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            authority = CLOUDS.get(self.target.cloud, CLOUDS["azurecloud"])[1]
            self._credential = DefaultAzureCredential(authority=authority)
        return self._credential

    def _scopes(self) -> list[str]:
        base = CLOUDS.get(self.target.cloud, CLOUDS["azurecloud"])[0]
        return [f"{base}/.default"]

    def check_token(self) -> None:
        """Get an ARM token now (doctor); a CloudError says why no credential works."""
        self._call("getting an Azure token", lambda: self.credential().get_token(*self._scopes()))

    @property
    def containers(self) -> Any:
        if self._containers is None:
            from azure.mgmt.containerservice import ContainerServiceClient

            self._containers = ContainerServiceClient(
                self.credential(), self.target.subscription, credential_scopes=self._scopes(), **self._client_kwargs()
            )
        return self._containers

    @property
    def compute(self) -> Any:
        if self._compute is None:
            from azure.mgmt.compute import ComputeManagementClient

            self._compute = ComputeManagementClient(
                self.credential(), self.target.subscription, credential_scopes=self._scopes(), **self._client_kwargs()
            )
        return self._compute

    def _call(self, action: str, fn: Callable[[], Any]) -> Any:
        from azure.core.exceptions import AzureError
        from azure.identity import CredentialUnavailableError

        try:
            return fn()
        except (AzureError, CredentialUnavailableError) as exc:
            raise cloud_error(exc, action) from None

    # -- cluster and pools --------------------------------------------------------------------------------------------

    def cluster(self) -> dict[str, Any]:
        t = self.target
        result = self._call(
            f"reading AKS cluster {t.resource_group}/{t.cluster}",
            lambda: self.containers.managed_clusters.get(t.resource_group, t.cluster),
        )
        return _as_dict(result)

    def list_clusters(self) -> list[dict[str, Any]]:
        """Every AKS cluster of the subscription (to find the one a kube context points at)."""
        return [
            _as_dict(c)
            for c in self._call("listing AKS clusters", lambda: list(self.containers.managed_clusters.list()))
        ]

    def get_pool(self, name: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        t = self.target

        def read() -> dict[str, Any] | None:
            try:
                return _as_dict(self.containers.agent_pools.get(t.resource_group, t.cluster, name))
            except ResourceNotFoundError:
                return None

        result: dict[str, Any] | None = self._call(f"reading agent pool {name}", read)
        return result

    def list_pools(self) -> list[dict[str, Any]]:
        """Every agent pool of the cluster, all pages. The List operation takes no $filter (only api-version:
        azure-mgmt-containerservice 41.8.0 operations/_operations.py, build_agent_pools_list_request), so finding
        kaitoctl's pools by their tags happens here, client-side."""
        t = self.target
        return [
            _as_dict(p)
            for p in self._call(
                f"listing the agent pools of {t.resource_group}/{t.cluster}",
                lambda: list(self.containers.agent_pools.list(t.resource_group, t.cluster)),
            )
        ]

    def begin_put_pool(self, name: str, body: dict[str, Any]) -> Any:
        t = self.target
        return self._call(
            f"creating/updating agent pool {name}",
            lambda: self.containers.agent_pools.begin_create_or_update(t.resource_group, t.cluster, name, body),
        )

    def begin_delete_pool(self, name: str) -> Any:
        t = self.target
        return self._call(
            f"deleting agent pool {name}",
            lambda: self.containers.agent_pools.begin_delete(t.resource_group, t.cluster, name),
        )

    def wait(self, poller: Any, action: str, on_status: Callable[[str], None] | None = None) -> Any:
        """Poll an LRO to the end, reporting its status; a failed operation raises a CloudError."""
        from azure.core.exceptions import AzureError

        try:
            while not poller.done():
                if on_status is not None:
                    on_status(str(poller.status()))
                poller.wait(timeout=self.poll_interval or 0.05)
            return poller.result()
        except AzureError as exc:
            raise cloud_error(exc, action) from None

    def usages(self, location: str) -> dict[str, tuple[int, int]] | None:
        """Regional vCPU usage per quota family: name -> (current, limit), names as Azure spells them.

        None when the identity may not read them (403): the usages API is subscription-scoped, so a role assigned on
        the resource group or the cluster alone does not cover it.
        """
        from azure.core.exceptions import HttpResponseError

        def read() -> list[Any] | None:
            try:
                return list(self.compute.usage.list(location))
            except HttpResponseError as exc:
                if exc.status_code == 403:
                    return None
                raise

        items = self._call(f"reading vCPU quota in {location}", read)
        if items is None:
            return None
        out: dict[str, tuple[int, int]] = {}
        for item in items:
            data = _as_dict(item)
            name = (data.get("name") or {}).get("value")
            if name:
                out[str(name)] = (
                    int(data.get("currentValue") or data.get("current_value") or 0),
                    int(data.get("limit") or 0),
                )
        return out


def _as_dict(model: Any) -> dict[str, Any]:
    """SDK models (41.x model_base) as wire-shaped dicts."""
    if isinstance(model, dict):
        return model
    if hasattr(model, "as_dict"):
        try:
            data: dict[str, Any] = model.as_dict()
            return data
        except TypeError:
            pass
    try:
        return dict(model)
    except (TypeError, ValueError):
        data = json.loads(json.dumps(model, default=lambda o: getattr(o, "__dict__", str(o))))
        return data if isinstance(data, dict) else {}


# ---- retail prices ------------------------------------------------------------------------------------------------

PRICE_CACHE_TTL_S = 24 * 3600


def _price_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kaitoctl" / "prices.json"


def _read_price_cache() -> dict[str, Any]:
    """The cache's entries; an unreadable, corrupt or wrongly shaped file counts as empty (and is rewritten)."""
    try:
        cache = json.loads(_price_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _cache_key(sku: str, region: str, spot: bool) -> str:
    return f"{region}/{sku}".lower() + ("/spot" if spot else "")


def cached_price(sku: str, region: str, *, spot: bool = False) -> float | None:
    """The cached USD/hour of one node (no network); None when not cached or older than a day."""
    entry = _read_price_cache().get(_cache_key(sku, region, spot))
    if not isinstance(entry, dict):
        return None
    try:
        at, price = float(entry["at"]), float(entry["usd_per_hour"])
    except (KeyError, TypeError, ValueError):
        return None
    if 0 <= time.time() - at < PRICE_CACHE_TTL_S and math.isfinite(price) and price > 0:
        return price
    return None


def cached_regions() -> list[str]:
    """Regions with prices in the cache, most recently priced first."""
    newest: dict[str, float] = {}
    for key, entry in _read_price_cache().items():
        try:
            at = float(entry["at"])
        except (KeyError, TypeError, ValueError):
            continue
        region = str(key).split("/", 1)[0]
        newest[region] = max(at, newest.get(region, 0.0))
    return sorted(newest, key=lambda r: -newest[r])


# Prices are looked up in parallel threads (the SKU ranking): each read-modify-write of the cache holds this, so
# one thread's entry is not lost to another's write.
_CACHE_LOCK = threading.Lock()


def _write_price_cache(key: str, price: float) -> None:
    """Atomic: a temporary file in the same directory, then os.replace, so a concurrent reader or a crash mid-write
    never sees half a file."""
    with _CACHE_LOCK:
        _write_price_entry(key, price)


def _write_price_entry(key: str, price: float) -> None:
    path = _price_cache_path()
    cache = _read_price_cache()
    cache[key] = {"usd_per_hour": price, "at": time.time()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prices.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(cache, fh)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # a cache that cannot be written costs one lookup next time


def linux_payg_prices(items: list[dict[str, Any]], *, spot: bool = False) -> list[float]:
    """The Linux pay-as-you-go (or, with `spot`, Linux Spot) hourly prices among Retail Prices API items.

    The API lists, for one armSkuName, Windows meters (productName "... Series Windows", skuName/meterName
    "... Win"), Cloud Services meters, Spot and Low Priority meters, and some zero-priced meters; none of them is
    what a Linux agent pool costs (learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices).
    Spot meters carry "Spot" in skuName and meterName ("NC24ads A100 v4 Spot"), the convention public tools filter
    on (e.g. gist.github.com/JustinGrote/17341170ba16347ee24d5953ff3a33db: `contains(skuName,'Spot')`); not checked
    against the live API here.
    """
    out: list[float] = []
    for item in items:
        names = [str(item.get(k) or "") for k in ("productName", "skuName", "meterName")]
        if any("Windows" in n or n.endswith(" Win") or "Cloud Services" in n for n in names):
            continue
        if any("Low Priority" in n for n in names[1:]):
            continue
        if any("Spot" in n for n in names[1:]) != spot:
            continue
        if not str(item.get("unitOfMeasure", "")).endswith("Hour"):
            continue
        try:
            price = float(item.get("retailPrice"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if price > 0:
            out.append(price)
    return out


PriceStatus = Literal["listed", "unlisted", "unreachable"]


def price_lookup(
    sku: str, region: str, *, spot: bool = False, timeout_s: float = 5.0
) -> tuple[float | None, PriceStatus]:
    """(USD/hour, status): "unlisted" when the API answered without a Linux pay-as-you-go (with `spot`: Spot) price
    for the size in the region, "unreachable" when it did not answer."""
    hit = cached_price(sku, region, spot=spot)
    if hit is not None:
        return hit, "listed"
    import httpx

    base = os.environ.get("KAITOCTL_PRICES_ENDPOINT", PRICES_ENDPOINT).rstrip("/")
    query = (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and armSkuName eq '{sku}' "
        "and priceType eq 'Consumption'"
    )
    ca_bundle = os.environ.get("KAITOCTL_ARM_CA_BUNDLE")
    import ssl  # here, not at the top: dry runs read the price cache from this module and never need TLS

    verify: Any = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    try:
        response = httpx.get(f"{base}/api/retail/prices", params={"$filter": query}, timeout=timeout_s, verify=verify)
        response.raise_for_status()
        items = response.json().get("Items") or []
    except (httpx.HTTPError, ValueError, AttributeError):
        return None, "unreachable"
    prices = linux_payg_prices([i for i in items if isinstance(i, dict)], spot=spot)
    if not prices:
        return None, "unlisted"
    price = min(prices)
    _write_price_cache(_cache_key(sku, region, spot), price)
    return price, "listed"
