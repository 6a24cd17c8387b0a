"""HTTP side of the emulator: ARM, Compute usages, retail prices and the /_emulator control endpoints.

`Router.handle()` is pure request -> response (no sockets), `serve()` puts it behind a stdlib
ThreadingHTTPServer with TLS. Paths are matched case-insensitively (ARM does); names keep their original case
for validation.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.harness.aks_emulator import prices
from tests.harness.aks_emulator.faults import SKU_NOT_AVAILABLE, VM_SIZE_NOT_ALLOWED, Fault, FaultBook
from tests.harness.aks_emulator.state import ArmError, ArmState, utc_iso

_CLUSTER = (
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
    r"/providers/microsoft\.containerservice/managedclusters/(?P<cluster>[^/]+)"
)
_OPS = r"^/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.containerservice/locations/(?P<loc>[^/]+)"
ROUTES: list[tuple[str, str, str]] = [
    ("GET", _CLUSTER + r"$", "get_cluster"),
    ("POST", _CLUSTER + r"/listclusterusercredential$", "user_credential"),
    ("POST", _CLUSTER + r"/listclusteradmincredential$", "admin_credential"),
    ("GET", _CLUSTER + r"/agentpools$", "list_pools"),
    ("GET", _CLUSTER + r"/agentpools/(?P<pool>[^/]+)$", "get_pool"),
    ("PUT", _CLUSTER + r"/agentpools/(?P<pool>[^/]+)$", "put_pool"),
    ("DELETE", _CLUSTER + r"/agentpools/(?P<pool>[^/]+)$", "delete_pool"),
    ("POST", _CLUSTER + r"/agentpools/(?P<pool>[^/]+)/abort$", "abort_pool"),
    (
        "GET",
        r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
        r"/providers/microsoft\.containerservice/managedclusters$",
        "list_clusters",
    ),
    (
        "GET",
        r"^/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.containerservice/managedclusters$",
        "list_clusters",
    ),
    ("GET", _OPS + r"/operations/(?P<op>[^/]+)$", "get_operation"),
    ("GET", _OPS + r"/operationresults/(?P<op>[^/]+)$", "get_operation_result"),
    (
        "GET",
        r"^/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/usages$",
        "usages",
    ),
]
# Operation-status URLs carry their own api-version; this is the one AKS puts there (spec Delete example).
OPERATION_API_VERSION = "2016-03-30"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def q(self, name: str) -> str | None:
        for key, values in self.query.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able, or bytes, or None for no body
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


def _error(err: ArmError) -> Response:
    return Response(err.status, err.body(), dict(err.headers))


@dataclass
class EmulatorContext:
    """What the router needs besides the ARM state; owned by ArmEmulator."""

    state: ArmState
    faults: FaultBook
    base_url: Callable[[], str]
    kubeconfig: Path | None
    tokens: set[str]
    strict_tokens: bool
    az_bin: Path
    list_page_size: int = 10
    retry_after: int = 0
    # Seconds each ARM answer waits, like a network round trip. It also keeps an SDK with polling_interval=0
    # from polling an operation a thousand times a second.
    latency_s: float = 0.01
    # Bounded: a daemon polled for hours must not grow without limit.
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50_000))
    log_lock: threading.Lock = field(default_factory=threading.Lock)
    on_reset: Callable[[], None] | None = None


class Router:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self._routes = [(m, re.compile(p, re.IGNORECASE), h) for m, p, h in ROUTES]

    # -- entry

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path.lower().startswith("/_emulator"):
            return self._control(req, path)
        try:
            if path.lower() == "/api/retail/prices":
                resp = self._prices(req)
            elif path.lower().startswith("/subscriptions/"):
                resp = self._arm(req, path)
            else:
                resp = Response(404, {"error": {"code": "NotFound", "message": f"No route for {path}."}})
        except ArmError as err:
            resp = _error(err)
        self._record(req, resp)
        return resp

    def _record(self, req: Request, resp: Response) -> None:
        body: Any = None
        try:
            body = req.json()
        except ValueError:
            body = req.body.decode(errors="replace")
        entry = {
            "method": req.method,
            "path": req.path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in req.query.items()},
            "status": resp.status,
            "user_agent": req.headers.get("user-agent", ""),
            "client_request_id": req.headers.get("x-ms-client-request-id"),
            "timestamp": time.time(),
            "body": body,
        }
        with self.ctx.log_lock:
            self.ctx.log.append(entry)

    # -- ARM

    def _arm(self, req: Request, path: str) -> Response:
        if self.ctx.latency_s > 0:
            time.sleep(self.ctx.latency_s)
        self._authenticate(req, path)
        if not req.q("api-version"):
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        fault = self.ctx.faults.take(("response",), req.method, path)
        if fault is not None:
            return self._fault_response(fault, req, path)
        self.state.advance()
        path_known = False
        for method, pattern, handler in self._routes:
            m = pattern.match(path)
            if m is None:
                continue
            path_known = True
            if method != req.method:
                continue
            groups = m.groupdict()
            self._check_scope(groups)
            with self.state.lock:
                resp: Response = getattr(self, handler)(req, **groups)
            resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
            resp.headers.setdefault(
                "x-ms-correlation-request-id",
                req.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
            )
            kind = "reads" if req.method == "GET" else "writes"
            resp.headers.setdefault(f"x-ms-ratelimit-remaining-subscription-{kind}", "11999")
            return resp
        if path_known:
            raise ArmError(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{req.method}'.",
            )
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type could not be found for the path '{req.path}' (not served by the emulator).",
        )

    def _authenticate(self, req: Request, path: str) -> None:
        tenant = self.state.tenant
        auth = req.headers.get("authorization", "")

        def unauthorized(code: str, message: str, description: str) -> ArmError:
            # ARM's challenge header; error_description differs per case.
            challenge = (
                f'Bearer authorization_uri="https://login.microsoftonline.com/{tenant}", '
                f'error="invalid_token", error_description="{description}"'
            )
            return ArmError(401, code, message, headers={"WWW-Authenticate": challenge})

        if not auth:
            raise unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                "The authentication failed because of invalid 'Authorization' header format.",
            )
        if self.ctx.faults.take(("expired_token",), req.method, path) is not None:
            now = time.time()
            raise unauthorized(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_arm_time(now - 300)}' is earlier than current UTC time "
                f"'{_arm_time(now)}'.",
                "The access token has expired.",
            )
        if self.ctx.strict_tokens and token.strip() not in self.ctx.tokens:
            raise unauthorized(
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                "The access token is invalid.",
            )

    def _check_scope(self, groups: dict[str, str]) -> None:
        st = self.state
        sub = groups.get("sub")
        if sub is not None and sub.lower() != st.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        rg = groups.get("rg")
        if rg is not None and rg.lower() != st.resource_group.lower():
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        cluster = groups.get("cluster")
        if cluster is not None and cluster.lower() != st.cluster.lower():
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.ContainerService/managedClusters/{cluster}' under resource group "
                f"'{st.resource_group}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
            )

    def _fault_response(self, fault: Fault, req: Request, path: str) -> Response:
        message = fault.message.replace("{subscription}", self.state.subscription)
        if not message:  # a fault whose wording needs the request: pool, size, region
            pool = path.rstrip("/").rsplit("/", 1)[-1]
            try:
                props = (req.json() or {}).get("properties", {})
            except (ValueError, AttributeError):
                props = {}
            existing = self.state.pools.get(pool)
            vm_size = str(props.get("vmSize") or (existing.vm_size if existing else ""))
            if fault.quota:
                with self.state.lock:
                    problem = self.state.forced_quota_problem(vm_size, int(props.get("count", 1)))
                message = self.state.quota_message(problem, preflight=True)
            elif fault.code == "SkuNotAvailable":
                resource = f"aks-{pool}-{self.state.vmss_number}-vmss"
                message = SKU_NOT_AVAILABLE.format(
                    resource=resource,
                    location=self.state.location,
                    zones="",
                    subscription=self.state.subscription,
                )
            else:
                message = VM_SIZE_NOT_ALLOWED.format(pool=pool, location=self.state.location)
        err: dict[str, Any] = {"code": fault.code, "message": message}
        if fault.details:
            err["details"] = fault.details
        return Response(fault.status, {"error": err}, dict(fault.headers))

    # -- handlers: managed cluster

    def get_cluster(self, req: Request, **_: str) -> Response:
        return Response(200, self.state.cluster_json())

    def list_clusters(self, req: Request, **_: str) -> Response:
        return Response(200, {"value": [self.state.cluster_json()]})

    def _kubeconfig_bytes(self) -> bytes:
        if self.ctx.kubeconfig is not None:
            return self.ctx.kubeconfig.read_bytes()
        # No local cluster: a syntactically valid kubeconfig for the cluster's (unreachable) FQDN.
        name = self.state.cluster
        user = f"clusterUser_{self.state.resource_group}_{name}"
        return (
            f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://{self.state.fqdn}:443\n"
            f"  name: {name}\ncontexts:\n- context:\n    cluster: {name}\n    user: {user}\n  name: {name}\n"
            f"current-context: {name}\nusers:\n- name: {user}\n  user:\n    token: emulator-token\n"
        ).encode()

    def _credentials(self, name: str) -> Response:
        value = base64.b64encode(self._kubeconfig_bytes()).decode()
        return Response(200, {"kubeconfigs": [{"name": name, "value": value}]})

    def user_credential(self, req: Request, **_: str) -> Response:
        return self._credentials("clusterUser")

    def admin_credential(self, req: Request, **_: str) -> Response:
        return self._credentials("clusterAdmin")

    # -- handlers: agent pools

    def list_pools(self, req: Request, sub: str, rg: str, cluster: str) -> Response:
        pools = [self.state.pool_json(p) for p in self.state.pools.values()]
        skip = int(req.q("$skipToken") or 0)
        size = self.ctx.list_page_size
        body: dict[str, Any] = {"value": pools[skip : skip + size]}
        if skip + size < len(pools):
            # Absolute, with api-version; the SDK re-adds its own api-version anyway
            # (azure-mgmt-containerservice 41.8.0 operations/_operations.py, list paging).
            body["nextLink"] = (
                f"{self.ctx.base_url()}{self.state.cluster_id}/agentPools"
                f"?api-version={req.q('api-version')}&$skipToken={skip + size}"
            )
        return Response(200, body)

    def get_pool(self, req: Request, pool: str, **_: str) -> Response:
        return Response(200, self.state.pool_json(self.state.get_pool(pool)))

    def _op_headers(self, op_id: str, req: Request, *, location: bool = False) -> dict[str, str]:
        base = (
            f"{self.ctx.base_url()}/subscriptions/{self.state.subscription}"
            f"/providers/Microsoft.ContainerService/locations/{self.state.location}"
        )
        headers = {
            "Azure-AsyncOperation": f"{base}/operations/{op_id}?api-version={OPERATION_API_VERSION}",
            "Retry-After": str(self.ctx.retry_after),
        }
        if location:
            headers["Location"] = f"{base}/operationresults/{op_id}?api-version={OPERATION_API_VERSION}"
        return headers

    def _check_preconditions(self, req: Request, etag: str | None) -> None:
        if_match = req.headers.get("if-match")
        if if_match is not None and if_match != "*" and if_match.strip('"') != (etag or ""):
            raise ArmError(
                412,
                "PreconditionFailed",
                f"Operation failed: the etag '{if_match}' does not match the resource.",
            )
        if if_match == "*" and etag is None:
            raise ArmError(412, "PreconditionFailed", "Operation failed: the resource does not exist.")
        if req.headers.get("if-none-match") == "*" and etag is not None:
            raise ArmError(412, "PreconditionFailed", "Operation failed: the resource already exists.")

    def put_pool(self, req: Request, pool: str, **_: str) -> Response:
        st = self.state
        try:
            body = req.json()
        except ValueError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc}.",
            ) from exc
        existing = st.pools.get(pool)
        self._check_preconditions(req, existing.etag if existing else None)
        props = st.validate_put(pool, body, existing)
        st.check_not_busy(pool)
        if existing is None:
            st.check_vm_size(pool, props["vmSize"])

        method, path = req.method, req.path.lower()
        error: dict[str, Any] | None = None
        held = len(existing.vm_indexes) if existing else 0
        problem = st.quota_problem(props["vmSize"], props["count"] - held)
        if problem is not None:
            if st.quota_mode == "sync":
                raise ArmError(400, "QuotaExceeded", st.quota_message(problem, preflight=True))
            error = {"code": "QuotaExceeded", "message": st.quota_message(problem, preflight=False)}
        fault = self.ctx.faults.take(("operation",), method, path)
        if fault is not None and error is None:
            if fault.quota:
                forced = st.forced_quota_problem(props["vmSize"], props["count"] - held)
                error = {"code": "QuotaExceeded", "message": st.quota_message(forced, preflight=False)}
            else:
                error = fault.operation_error()
        slow = self.ctx.faults.take(("duration",), method, path)
        p, op, created = st.begin_put(pool, props, duration=slow.seconds if slow else None, error=error)
        return Response(201 if created else 200, st.pool_json(p), self._op_headers(op.id, req))

    def delete_pool(self, req: Request, pool: str, **_: str) -> Response:
        st = self.state
        existing = st.pools.get(pool)
        if existing is None:
            return Response(204)
        self._check_preconditions(req, existing.etag)
        st.check_not_busy(existing.name)
        method, path = req.method, req.path.lower()
        fault = self.ctx.faults.take(("operation",), method, path)
        error = fault.operation_error() if fault is not None else None
        slow = self.ctx.faults.take(("duration",), method, path)
        op = st.begin_delete(existing.name, duration=slow.seconds if slow else None, error=error)
        return Response(202, None, self._op_headers(op.id, req, location=True))

    def abort_pool(self, req: Request, pool: str, **_: str) -> Response:
        st = self.state
        st.get_pool(pool)
        op = st.abort(pool)
        if op is None:
            return Response(204)
        return Response(202, None, self._op_headers(op.id, req, location=True))

    # -- handlers: operations

    def get_operation(self, req: Request, op: str, **_: str) -> Response:
        found = self.state.ops.get(op)
        if found is None:
            raise ArmError(404, "NotFound", f"Operation {op} not found.")
        return Response(200, found.to_json(self.state.subscription, self.state.location))

    def get_operation_result(self, req: Request, op: str, **_: str) -> Response:
        """Location-header polling: 202 while running, 204 when done. A failed operation answers with its
        error and status 400 (a guess: the SDK follows Azure-AsyncOperation first, so this is rarely used)."""
        found = self.state.ops.get(op)
        if found is None:
            raise ArmError(404, "NotFound", f"Operation {op} not found.")
        if found.status == "InProgress":
            return Response(202, None, self._op_headers(op, req, location=True))
        if found.status == "Succeeded":
            return Response(204)
        return Response(400, {"error": found.error})

    # -- handlers: Compute

    def usages(self, req: Request, sub: str, loc: str) -> Response:
        rows = self.state.usages()
        if loc.lower() != self.state.location.lower():
            for row in rows:  # the cluster's VMs are all in its own region
                row["currentValue"] = 0
        return Response(200, {"value": rows})

    # -- retail prices

    def _prices(self, req: Request) -> Response:
        try:
            skip = int(req.q("$skip") or 0)
            body = prices.query(req.q("$filter"), skip, self.ctx.base_url())
        except ValueError as exc:
            # The public API answers a bad filter with 400 and a plain message (shape guessed).
            return Response(400, {"Error": {"Code": "BadRequest", "Message": str(exc)}})
        return Response(200, body, {"X-Emulator-Prices": "made-up values, not Azure prices"})

    # -- control

    def _control(self, req: Request, path: str) -> Response:
        ctx, st = self.ctx, self.state
        key = (req.method, path.lower())
        try:
            data = req.json() or {}
        except ValueError as exc:
            return Response(400, {"error": f"bad JSON: {exc}"})
        if key == ("GET", "/_emulator/health"):
            return Response(200, {"ok": True, "endpoint": ctx.base_url()})
        if key == ("GET", "/_emulator/requests"):
            with ctx.log_lock:
                return Response(200, {"value": list(ctx.log)})
        if key == ("DELETE", "/_emulator/requests"):
            with ctx.log_lock:
                ctx.log.clear()
            return Response(204)
        if key == ("GET", "/_emulator/faults"):
            return Response(200, {"value": [f.to_json() for f in ctx.faults.list()]})
        if key == ("POST", "/_emulator/faults"):
            try:
                fault = ctx.faults.add(Fault.from_json(data))
            except (TypeError, KeyError) as exc:
                return Response(400, {"error": f"bad fault: {exc!r}"})
            return Response(201, fault.to_json())
        if key == ("DELETE", "/_emulator/faults"):
            ctx.faults.clear()
            return Response(204)
        if key == ("POST", "/_emulator/reset"):
            if ctx.on_reset is not None:
                ctx.on_reset()
            return Response(204)
        if key == ("GET", "/_emulator/pools"):
            st.advance()
            with st.lock:
                return Response(200, {"value": [st.pool_json(p) for p in st.pools.values()]})
        if key == ("POST", "/_emulator/quota"):
            st.set_quota(str(data["family"]), int(data["limit"]), data.get("current"))
            return Response(204)
        if key == ("POST", "/_emulator/config"):
            with st.lock:
                for name in ("operation_seconds", "nodes_ready_after_s", "quota_mode"):
                    if name in data:
                        setattr(st, name, data[name])
            return Response(204)
        if key == ("POST", "/_emulator/az"):
            marker = ctx.az_bin.parent / "logged-out"
            if data.get("logged_in", True):
                marker.unlink(missing_ok=True)
            else:
                marker.touch()
            return Response(204)
        return Response(404, {"error": f"unknown control endpoint {req.method} {path}"})


def _arm_time(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")


# -- the socket side


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aks-emulator"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK costs ~40 ms a request.
    disable_nagle_algorithm = True
    timeout = 60
    router: Router  # set on the subclass made by serve()

    def setup(self) -> None:
        super().setup()
        # The TLS handshake runs here, in the connection's thread, not in the accept loop.
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is the record; stderr stays quiet

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            resp = self.router.handle(req)
        except Exception as exc:  # a bug in the emulator: answer 500 rather than drop the connection
            resp = Response(500, {"error": {"code": "EmulatorBug", "message": repr(exc)}})
        payload = resp.payload()
        self.send_response(resp.status)
        if payload:
            ctype = (
                "application/json; charset=utf-8" if not isinstance(resp.body, bytes) else "application/octet-stream"
            )
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache")
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (or fail TLS) are not the emulator's problem


def serve(router: Router, *, host: str, port: int, cert: Path, key: Path) -> tuple[_Server, threading.Thread]:
    """Bind, wrap in TLS and serve on a daemon thread. Returns the server (its port is server_address[1])."""
    handler = type("Handler", (_Handler,), {"router": router})
    server = _Server((host, port), handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(cert), str(key))
    server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.name = "aks-emulator-http"
    thread.start()
    return server, thread


__all__ = ["EmulatorContext", "Request", "Response", "Router", "serve", "utc_iso"]
