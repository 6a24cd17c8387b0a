"""The Kubernetes side effects: one thin client over the official `kubernetes` package.

The official client handles kubeconfig (contexts, exec plugins, certificates, token refresh; adapters/kubeconfig.py
reads the static-credential case without importing it) and the transport: requests go through its REST client
(TLS, proxies, timeouts) by path, so kaitoctl needs no API discovery (each request counts against the per-command
budget), and server-side apply, watches and logs work for every kind the same way. The generated ApiClient is built
only for exec and port-forward, which need its websocket support.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import urllib3
from kubernetes.client.configuration import Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTClientObject

from kaitoctl import __version__
from kaitoctl.adapters import kubeconfig as kubeconfig_reader
from kaitoctl.core import collector
from kaitoctl.core.errors import ClusterUnreachable, InvalidInput, NotFound, OperationFailed
from kaitoctl.core.naming import MANAGED_BY, MANAGED_BY_LABEL

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger("kaitoctl.kube")  # -v: one line per API request (method, path, status, time)

FIELD_MANAGER = "kaitoctl"
STATUS_FIELD_MANAGER = "kaitoctl-status"
USER_AGENT = f"kaitoctl/{__version__}"

# (apiVersion, kind) -> (API prefix, plural, namespaced). Only what kaitoctl touches: no discovery round-trips.
_RESOURCES: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("v1", "ConfigMap"): ("/api/v1", "configmaps", True),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("v1", "Service"): ("/api/v1", "services", True),
    ("v1", "PersistentVolumeClaim"): ("/api/v1", "persistentvolumeclaims", True),
    ("v1", "Pod"): ("/api/v1", "pods", True),
    ("v1", "Event"): ("/api/v1", "events", True),
    ("v1", "Node"): ("/api/v1", "nodes", False),
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("apps/v1", "StatefulSet"): ("/apis/apps/v1", "statefulsets", True),
    ("apps/v1", "DaemonSet"): ("/apis/apps/v1", "daemonsets", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs", True),
    ("discovery.k8s.io/v1", "EndpointSlice"): ("/apis/discovery.k8s.io/v1", "endpointslices", True),
}


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    prefix, plural, namespaced = _RESOURCES[(api_version, kind)]
    path = prefix
    if namespaced and namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{name}"
    return path


def object_path(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


class WatchExpired(Exception):
    """410 Gone: the resourceVersion is too old; list again."""


@dataclass
class KubeContext:
    name: str | None
    namespace: str
    server: str


def _status_message(body: bytes | str | None) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return str(body)[:500]
    return str(data.get("message") or data.get("reason") or "")


class Kube:
    """A connected cluster. Methods return plain dicts as the API sends them."""

    def __init__(self, configuration: Configuration, context: KubeContext) -> None:
        self.configuration = configuration
        self.rest = RESTClientObject(configuration)
        self.context = context
        # --request-timeout (kubectl's meaning): when set, it bounds every request, watches and log streams too.
        self.request_timeout: float | None = None
        self._api: ApiClient | None = None

    @property
    def api(self) -> ApiClient:
        """The generated client on the same configuration, for exec and port-forward (kubernetes.stream)."""
        if self._api is None:
            from kubernetes.client import ApiClient

            self._api = ApiClient(self.configuration)
            self._api.user_agent = USER_AGENT
        return self._api

    # -- connection ---------------------------------------------------------------------------------------------

    @classmethod
    def connect(cls, kubeconfig: Path | None = None, context: str | None = None) -> Kube:
        try:
            loaded = kubeconfig_reader.load_static(kubeconfig, context)
        except kubeconfig_reader.Unsupported:
            loaded = _load_with_library(kubeconfig, context)
        configuration = loaded.configuration
        return cls(
            configuration,
            KubeContext(name=loaded.context, namespace=loaded.namespace or "default", server=configuration.host),
        )

    # -- raw requests -------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | tuple[float, float] | None = 30,
        stream: bool = False,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        # JSON bodies go as objects (the client serialises them); other content types as text.
        payload = (
            body if content_type in (None, "application/json") or isinstance(body, (str, bytes)) else json.dumps(body)
        )
        headers["User-Agent"] = USER_AGENT
        # The bearer token as ApiClient.update_params_for_auth sets it (auth_settings also runs the refresh hook).
        bearer = self.configuration.auth_settings().get("BearerToken")
        if bearer and bearer["value"]:
            headers[bearer["key"]] = bearer["value"]
        url = self.configuration.host + path
        if query:  # ApiClient.parameters_to_url_query's encoding
            url += "?" + "&".join(f"{key}={quote(value)}" for key, value in query)
        if self.request_timeout is not None:
            timeout = self.request_timeout
        started = time.monotonic()
        try:
            response = self.rest.request(method, url, headers=headers, body=payload, _request_timeout=timeout)
        except ApiException as exc:  # TLS problems surface here with status 0
            raise ClusterUnreachable(
                f"cannot talk to the API server at {self.context.server}: {exc.reason}",
                hint="check the kube context (`--context`) and that the cluster is reachable",
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = getattr(exc, "reason", None) or exc
            detail = str(cause).split(": ", 1)[-1] if ": " in str(cause) else str(cause)
            raise ClusterUnreachable(
                f"cannot reach the API server at {self.context.server}: {detail or type(exc).__name__}",
                hint="check the kube context (`--context`) and that the cluster is reachable",
            ) from None
        log.info(
            "%s %s%s -> %s (%.0f ms)",
            method,
            self.context.server,
            path,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        if stream and 200 <= response.status <= 299:
            return response.response
        data = response.read()
        if not 200 <= response.status <= 299:
            self._raise(method, path, response.status, data)
        if not data:
            return {}
        with collector.paused():  # a million new acyclic objects for a list of a thousand (core/collector.py)
            return json.loads(data)

    def _raise(self, method: str, path: str, status: int, data: bytes | None) -> None:
        message = _status_message(data)
        if status == 401:
            raise ClusterUnreachable(
                f"the API server rejected our credentials ({message or 'Unauthorized'})",
                hint="refresh them (e.g. `az aks get-credentials`, `kubelogin`) or pick another --context",
            )
        if status == 403:
            raise OperationFailed(
                f"forbidden: {message}", reason="Forbidden", hint="ask for RBAC permissions on these objects"
            )
        if status == 404:
            raise NotFound(f"{path} not found", reason="NotFound")
        if status == 410:
            raise WatchExpired(message)
        if status == 409:
            raise OperationFailed(f"conflict on {path}: {message}", reason="Conflict")
        if status == 422:
            raise OperationFailed(f"the API server rejected {path}: {message}", reason="Invalid")
        raise OperationFailed(f"{method} {path} failed with HTTP {status}: {message}", reason=f"HTTP{status}")

    # -- verbs --------------------------------------------------------------------------------------------------

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._send("GET", path)
        except NotFound:
            return None
        return result

    def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        query: list[tuple[str, str]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        data = self._send("GET", path, query=query)
        return list(data.get("items") or []), str(data.get("metadata", {}).get("resourceVersion", ""))

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._send("POST", path, body=body, content_type="application/json")
        return result

    def apply(
        self,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
        force: bool = False,
        field_manager: str = FIELD_MANAGER,
    ) -> dict[str, Any]:
        """Server-side apply (application/apply-patch+yaml; JSON is YAML)."""
        query = [("fieldManager", field_manager), ("fieldValidation", "Strict")]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        result: dict[str, Any] = self._send(
            "PATCH", object_path(obj), query=query, body=json.dumps(obj), content_type="application/apply-patch+yaml"
        )
        return result

    def delete(self, path: str, *, propagation: str = "Background") -> bool:
        """True if something was deleted, False if it was already gone."""
        try:
            self._send("DELETE", path, body={"propagationPolicy": propagation}, content_type="application/json")
        except NotFound:
            return False
        return True

    def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_s: int = 290,
    ) -> Iterator[dict[str, Any]]:
        """One watch stream from `resource_version`; ends when the server closes it. Raises WatchExpired on 410."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_s)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        response = self._send("GET", path, query=query, timeout=(10, timeout_s + 30), stream=True)
        try:
            buffer = b""
            for chunk in response.stream(amt=None, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        if status.get("code") == 410:
                            raise WatchExpired(str(status.get("message", "")))
                        raise OperationFailed(f"watch of {path} failed: {status.get('message', status)}")
                    yield event
        except urllib3.exceptions.HTTPError as exc:  # the stream was cut (API server restart, connection reset)
            raise ClusterUnreachable(
                f"the watch of {path} on {self.context.server} was cut: {type(exc).__name__}",
                hint="check that the cluster is reachable",
            ) from None
        finally:
            response.release_conn()

    def logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        follow: bool = False,
        timestamps: bool = False,
        since_seconds: int | None = None,
    ) -> Iterator[str]:
        """Log lines of a container (streaming when `follow`)."""
        query: list[tuple[str, str]] = []
        if container:
            query.append(("container", container))
        if tail_lines is not None:
            query.append(("tailLines", str(tail_lines)))
        if previous:
            query.append(("previous", "true"))
        if follow:
            query.append(("follow", "true"))
        if timestamps:
            query.append(("timestamps", "true"))
        if since_seconds is not None:
            query.append(("sinceSeconds", str(since_seconds)))
        path = resource_path("v1", "Pod", namespace, pod) + "/log"
        timeout: tuple[float, float] | float = (10, 3600 * 24) if follow else 30
        try:
            response = self._send("GET", path, query=query, timeout=timeout, stream=True)
        except OperationFailed as exc:
            raise OperationFailed(f"cannot read logs of {pod}: {exc.message}", reason=exc.reason) from None
        try:
            buffer = b""
            for chunk in response.stream(amt=None if follow else 65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    yield line.decode("utf-8", errors="replace")
            if buffer:
                yield buffer.decode("utf-8", errors="replace")
        finally:
            response.release_conn()

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        stdin: Iterable[bytes] | None = None,
        container: str | None = None,
    ) -> tuple[int, str, str]:
        """pods/exec over the API server's websocket (v5.channel.k8s.io, so stdin can be closed), as `kubectl exec`
        does. Output is collected while stdin is written, so a chatty command cannot stall the upload."""
        from kubernetes.client import CoreV1Api
        from kubernetes.stream import stream
        from kubernetes.stream.ws_client import STDIN_CHANNEL

        try:
            ws = stream(
                CoreV1Api(self.api).connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=list(command),
                container=container,
                stdin=stdin is not None,
                stdout=True,
                stderr=True,
                tty=False,
                binary=True,
                _preload_content=False,
            )
        except ApiException as exc:
            raise OperationFailed(f"exec in pod {namespace}/{pod} failed: {exc.reason}", reason="Exec") from None
        out, err = bytearray(), bytearray()

        def drain(timeout: float) -> None:
            ws.update(timeout=timeout)
            out.extend(ws.read_stdout(timeout=0) or b"")
            err.extend(ws.read_stderr(timeout=0) or b"")

        try:
            for chunk in stdin or ():
                if not ws.is_open():
                    break  # the command ended early; its exit code and stderr say why
                ws.write_stdin(chunk)
                drain(0)
            if stdin is not None and ws.is_open():
                ws.close_channel(STDIN_CHANNEL)
            while ws.is_open():
                drain(1)
            code = ws.returncode
        finally:
            ws.close()
        log.info("exec %s/%s %s -> %s", namespace, pod, command[0], code)
        return int(code if code is not None else -1), out.decode(errors="replace"), err.decode(errors="replace")

    def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None) -> tuple[bool, str]:
        """`kubectl auth can-i` for the current user: a SelfSubjectAccessReview (any authenticated user may create
        one). `resource` may carry a subresource ("pods/log"). Returns (allowed, the authorizer's reason)."""
        plural, _, sub = resource.partition("/")
        attributes = {"verb": verb, "group": group, "resource": plural}
        if sub:
            attributes["subresource"] = sub
        if namespace:
            attributes["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        status = self.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review).get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")

    def server_version(self) -> str:
        """The API server's version (GET /version): the cheapest request that proves it answers us."""
        data = self._send("GET", "/version")
        return str(data.get("gitVersion") or "")

    def ensure_namespace(self, namespace: str) -> bool:
        """Create the namespace when missing. True if it was created."""
        if self.get(resource_path("v1", "Namespace", name=namespace)) is not None:
            return False
        try:
            self.create(
                resource_path("v1", "Namespace"),
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
                },
            )
        except OperationFailed as exc:
            if exc.reason != "Conflict":  # created meanwhile by someone else: fine
                raise
            return False
        return True


def _load_with_library(path: Path | None, context: str | None) -> kubeconfig_reader.Loaded:
    """Everything adapters/kubeconfig.py leaves to the library: exec plugins, auth providers, merged files."""
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    config_file = str(path) if path else None
    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=config_file)
        chosen = active
        if context is not None:
            chosen = next((c for c in contexts if c["name"] == context), None)
            if chosen is None:
                names = ", ".join(c["name"] for c in contexts)
                raise InvalidInput("--context", f"context {context!r} is not in the kubeconfig", f"use one of: {names}")
        configuration = Configuration()
        k8s_config.load_kube_config(
            config_file=config_file, context=context, client_configuration=configuration, persist_config=False
        )
    except ConfigException as exc:
        where = config_file or "KUBECONFIG / ~/.kube/config"
        raise InvalidInput(
            "--kubeconfig",
            f"cannot load a kubeconfig from {where}: {exc}",
            "pass --kubeconfig FILE, or run `az aks get-credentials` first",
        ) from None
    except OSError as exc:
        raise InvalidInput("--kubeconfig", f"cannot read the kubeconfig: {exc}", "check the path") from None
    chosen_context = (chosen or {}).get("context") or {}
    return kubeconfig_reader.Loaded(configuration, (chosen or {}).get("name"), chosen_context.get("namespace"))
