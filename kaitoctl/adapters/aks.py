"""The Azure side effects: AKS agent pools, regional vCPU quota and retail prices, through the real Azure SDK.

Auth is azure-identity's DefaultAzureCredential (az login, service principal env, workload identity). The ARM
endpoint is the cloud's, or a custom one (KAITOCTL_ARM_ENDPOINT + KAITOCTL_ARM_CA_BUNDLE) for sovereign or local
emulators. Every Azure failure becomes a CloudError (exit code 4) with the ARM code and what to do about it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaitoctl.core.errors import CloudError

# --cloud values and their ARM endpoints and login hosts.
CLOUDS: dict[str, tuple[str, str]] = {
    "azurecloud": ("https://management.azure.com", "login.microsoftonline.com"),
    "azurechinacloud": ("https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    "azureusgovernment": ("https://management.usgovcloudapi.net", "login.microsoftonline.us"),
}
PRICES_ENDPOINT = "https://prices.azure.com"
QUOTA_PORTAL = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas"


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


_HINTS = {
    "QuotaExceeded": f"request more vCPU quota for the VM family in this region ({QUOTA_PORTAL}), "
    "or choose another --instance-type",
    "ErrCode_InsufficientVCPUQuota": f"request more vCPU quota ({QUOTA_PORTAL}), or choose another --instance-type",
    "SkuNotAvailable": "choose another --instance-type (`kaitoctl presets skus`), or a cluster in another region",
    "OperationNotAllowed": "another operation on this cluster or pool is running; wait for it, then re-run",
    "AuthorizationFailed": "your identity needs Microsoft.ContainerService/managedClusters/agentPools/* on the "
    "cluster (e.g. the Azure Kubernetes Service Contributor role)",
    "ExpiredAuthenticationToken": "your Azure credentials expired: run `az login` (or refresh the service principal)",
    "InvalidAuthenticationToken": "your Azure credentials were rejected: run `az login`",
    "ResourceNotFound": "check --subscription, --resource-group and --cluster",
    "NotFound": "check --subscription, --resource-group and --cluster",
    "TooManyRequests": "Azure Resource Manager is throttling this subscription; wait a minute and re-run",
}


def cloud_error(exc: BaseException, action: str) -> CloudError:
    """An Azure SDK exception as a CloudError with the ARM error code and a next step."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    try:
        from azure.identity import CredentialUnavailableError
    except ImportError:  # pragma: no cover
        CredentialUnavailableError = ClientAuthenticationError  # type: ignore[misc,assignment]

    if isinstance(exc, CredentialUnavailableError):
        return CloudError(
            f"{action}: no Azure credentials found",
            code="CredentialUnavailable",
            hint="run `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET (or workload identity)",
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
            code = "ServerError"
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
    if code == "ServerError":
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

    def usages(self, location: str) -> dict[str, tuple[int, int]]:
        """Regional vCPU usage per quota family: name -> (current, limit)."""
        items = self._call(f"reading vCPU quota in {location}", lambda: list(self.compute.usage.list(location)))
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


def cached_price(sku: str, region: str) -> float | None:
    try:
        cache = json.loads(_price_cache_path().read_text())
        entry = cache.get(f"{region}/{sku}".lower())
        if entry and time.time() - entry["at"] < PRICE_CACHE_TTL_S:
            return float(entry["usd_per_hour"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def hourly_price(sku: str, region: str, *, timeout_s: float = 5.0) -> float | None:
    """Pay-as-you-go Linux USD/hour from the Azure Retail Prices API (cached for a day). None when unreachable."""
    hit = cached_price(sku, region)
    if hit is not None:
        return hit
    import httpx

    base = os.environ.get("KAITOCTL_PRICES_ENDPOINT", PRICES_ENDPOINT).rstrip("/")
    query = (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and armSkuName eq '{sku}' "
        "and priceType eq 'Consumption'"
    )
    verify: Any = os.environ.get("KAITOCTL_ARM_CA_BUNDLE") or True
    try:
        response = httpx.get(f"{base}/api/retail/prices", params={"$filter": query}, timeout=timeout_s, verify=verify)
        response.raise_for_status()
        items = response.json().get("Items") or []
    except (httpx.HTTPError, ValueError):
        return None
    linux = [
        i
        for i in items
        if "Windows" not in str(i.get("productName", ""))
        and "Spot" not in str(i.get("skuName", ""))
        and "Low Priority" not in str(i.get("skuName", ""))
        and str(i.get("unitOfMeasure", "")).endswith("Hour")
    ]
    if not linux:
        return None
    price = min(float(i["retailPrice"]) for i in linux)
    try:
        path = _price_cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        cache = json.loads(path.read_text()) if path.exists() else {}
        cache[f"{region}/{sku}".lower()] = {"usd_per_hour": price, "at": time.time()}
        path.write_text(json.dumps(cache))
    except (OSError, ValueError):
        pass
    return price
