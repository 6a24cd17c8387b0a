"""Faults a test can arm: canned error answers, failing or slow long-running operations, expired tokens.

A `Fault` matches requests by HTTP method and a regular expression searched in the (lower-cased) path, and
fires `times` times (None: until cleared). Kinds:

- ``response``: answer the matching request at once with `status`, an ARM error body and extra headers
  (throttling, 5xx, 409 OperationNotAllowed, synchronous 400s).
- ``operation``: the next matching PUT/DELETE is accepted (201/200/202) but its operation ends Failed with
  `code`/`message` (an asynchronous QuotaExceeded, a generic failed LRO).
- ``duration``: the next matching operation runs `seconds` long (a slow create).
- ``expired_token``: answer 401 ExpiredAuthenticationToken, as ARM does for a stale bearer token.

Unless a path is given, faults only match ARM paths (under /subscriptions): polls of an operation status URL
count as requests too, which is how real throttling hits a client that is polling.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["response", "operation", "duration", "expired_token"]

# Real wording from the cilium/cilium#25944 CI log. The pool name and state are filled in.
OPERATION_NOT_ALLOWED = (
    "Operation is not allowed: Another agentpool operation ({pool} - {state}) is in progress, please wait "
    "for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more "
    "details"
)
# ARM's subscription throttling code; the message is from memory of ARM answers, not verified here.
THROTTLED = (
    "Number of read requests for subscription '{subscription}' exceeded the limit of '12000' for time "
    "interval '01:00:00'. Please try again after '{retry_after}' seconds."
)
# Real wording (dotnet/core#8000); note the two spaces before "For more details".
VM_SIZE_NOT_ALLOWED = (
    "The VM size of AgentPoolProfile:{pool} is not allowed in your subscription in location '{location}'.  "
    "For more details, please visit https://aka.ms/aks/quotas-skus-regions"
)
# Real wording (Azure/AKS#1444, mspnp/aks-baseline#372).
SKU_NOT_AVAILABLE = (
    "The requested size for resource '{resource}' is currently not available in location '{location}' zones "
    "'{zones}' for subscription '{subscription}'. Please try another size or deploy to a different location "
    "or zones. See https://aka.ms/azureskunotavailable"
)


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int = 500
    code: str = "InternalServerError"
    message: str = "Encountered internal server error."
    details: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # Quota faults compute their message from the emulator's quota numbers at the time they fire.
    quota: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return path.lower().startswith("/subscriptions/")
        return re.search(self.path, path, flags=re.IGNORECASE) is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "fired": self.fired,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "seconds": self.seconds,
            "quota": self.quota,
        }

    # -- constructors for the usual cases

    @classmethod
    def throttle(
        cls, times: int = 1, *, retry_after: int = 0, method: str | None = None, path: str | None = None
    ) -> Fault:
        """429 with Retry-After, like ARM's request throttling (the SDK retries it)."""
        return cls(
            kind="response",
            method=method,
            path=path,
            times=times,
            status=429,
            code="SubscriptionRequestsThrottled",
            message=THROTTLED.replace("{retry_after}", str(retry_after)),
            headers={"Retry-After": str(retry_after)},
        )

    @classmethod
    def server_error(
        cls, status: int = 500, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> Fault:
        # Codes as ARM/the gateway use them; messages shortened (guessed, real ones carry tracking ids).
        code, message = {
            500: ("InternalServerError", "An internal server error occurred. Please try again later."),
            502: ("BadGateway", "The gateway did not receive a valid response from the upstream server."),
            503: ("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
            504: (
                "GatewayTimeout",
                "The gateway did not receive a response within the specified time period.",
            ),
        }.get(status, ("InternalServerError", "An internal server error occurred."))
        return cls(kind="response", method=method, path=path, times=times, status=status, code=code, message=message)

    @classmethod
    def error(
        cls,
        status: int,
        code: str,
        message: str,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Any synchronous ARM error answer."""
        return cls(
            kind="response",
            method=method,
            path=path,
            times=times,
            status=status,
            code=code,
            message=message,
            details=details or [],
            headers=headers or {},
        )

    @classmethod
    def forbidden(
        cls,
        action: str,
        *,
        path: str,
        method: str = "GET",
        scope: str = "/subscriptions/{subscription}",
        times: int | None = None,
    ) -> Fault:
        """403 AuthorizationFailed, as ARM answers an identity without `action` at `scope`. Wording as in public
        ARM answers (e.g. confidential-containers/cloud-api-adaptor#1453 for Microsoft.Compute/locations/vmSizes/
        read over '/subscriptions/<id>'); the client and object ids are made up."""
        client = "22222222-2222-2222-2222-222222222222"
        return cls.error(
            403,
            "AuthorizationFailed",
            f"The client '{client}' with object id '{client}' does not have authorization to perform action "
            f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
            "refresh your credentials.",
            times=times,
            method=method,
            path=path,
        )

    @classmethod
    def usages_forbidden(cls) -> Fault:
        """The Compute usages list denied: the identity's role is on the resource group or cluster only."""
        return cls.forbidden("Microsoft.Compute/locations/usages/read", path=r"/providers/microsoft\.compute/.*/usages$")

    @classmethod
    def operation_not_allowed(cls, *, times: int = 1, pool: str = "nodepool1", state: str = "Creating") -> Fault:
        """409 OperationNotAllowed on the next agent-pool write, as if another operation were running."""
        return cls.error(
            409,
            "OperationNotAllowed",
            OPERATION_NOT_ALLOWED.format(pool=pool, state=state),
            times=times,
            method="PUT",
            path=r"/agentpools/[^/]+$",
        )

    @classmethod
    def quota_exceeded(cls, *, mode: Literal["async", "sync"] = "async", times: int = 1) -> Fault:
        """QuotaExceeded for the next agent-pool PUT, whatever the configured limits.

        async: PUT answers 201 and the operation fails (the usual AKS behaviour); sync: a 400 preflight
        answer. The message names the pool's quota family and the emulator's current numbers.
        """
        return cls(
            kind="operation" if mode == "async" else "response",
            method="PUT",
            path=r"/agentpools/[^/]+$",
            times=times,
            status=400,
            code="QuotaExceeded",
            message="",
            quota=True,
        )

    @classmethod
    def sku_not_available(
        cls, *, style: Literal["BadRequest", "SkuNotAvailable"] = "BadRequest", times: int = 1
    ) -> Fault:
        """The next agent-pool PUT is refused: the size is not offered (400, the real wordings above)."""
        return cls(
            kind="response",
            method="PUT",
            path=r"/agentpools/[^/]+$",
            times=times,
            status=400,
            code=style,
            message="",  # filled in with the pool, size and region when it fires
        )

    @classmethod
    def failed_operation(
        cls,
        code: str = "InternalOperationError",
        message: str = "Internal server error.",
        *,
        method: str | None = None,
        path: str | None = r"/agentpools/[^/]+$",
        times: int = 1,
        details: list[dict[str, Any]] | None = None,
    ) -> Fault:
        """The next matching PUT/DELETE is accepted, then its long-running operation ends Failed."""
        return cls(
            kind="operation",
            method=method,
            path=path,
            times=times,
            code=code,
            message=message,
            details=details or [],
        )

    @classmethod
    def slow(cls, seconds: float, *, method: str | None = None, times: int | None = 1) -> Fault:
        """The next matching operation takes `seconds` of wall-clock time."""
        return cls(kind="duration", method=method, path=r"/agentpools/[^/]+$", times=times, seconds=seconds)

    @classmethod
    def expired_token(cls, *, times: int | None = None) -> Fault:
        """401 ExpiredAuthenticationToken for every ARM request (times=None) until cleared."""
        return cls(kind="expired_token", times=times, status=401, code="ExpiredAuthenticationToken")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build from the control endpoint's JSON: {"kind": "throttle"|"server_error"|..., ...kwargs}."""
        data = dict(data)
        kind = data.pop("kind")
        makers: dict[str, Callable[..., Fault]] = {
            "throttle": cls.throttle,
            "server_error": cls.server_error,
            "error": cls.error,
            "operation_not_allowed": cls.operation_not_allowed,
            "quota_exceeded": cls.quota_exceeded,
            "sku_not_available": cls.sku_not_available,
            "failed_operation": cls.failed_operation,
            "slow": cls.slow,
            "expired_token": cls.expired_token,
            "forbidden": cls.forbidden,
            "usages_forbidden": cls.usages_forbidden,
        }
        if kind in makers:
            return makers[kind](**data)
        return cls(kind=kind, **data)

    def operation_error(self) -> dict[str, Any]:
        """The `error` object of a failed operation this fault causes."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return error


class FaultBook:
    """The armed faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, kinds: tuple[FaultKind, ...], method: str, path: str) -> Fault | None:
        """The first live fault of one of `kinds` that matches, counted as fired (and dropped when spent)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.fired += 1
                    if fault.times is not None and fault.fired >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None
