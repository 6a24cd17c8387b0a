"""`kaitoctl endpoint`: a local OpenAI-compatible endpoint for a workspace, for any tool that speaks the OpenAI API.

The proxy (adapters/proxy.py) passes requests to a `PodUpstream`: an httpx client over a port-forward (through the
API server, as `kaitoctl chat` reaches the model) to the workspace's ready pod. The upstream moves to the
workspace's next ready pod (waiting for one) when
- a request cannot reach the pod (a port-forward refused: the pod is gone), or
- a look at the pod every few seconds finds it deleted, replaced (a new uid: a StatefulSet pod keeps its name),
  being deleted or not ready. Port-forward streams do not always end when the process behind them dies (kwok's
  never do; a kubelet's may linger), so waiting for a request to fail is not enough.
Requests that failed meanwhile wait for that one reconnection and are then sent to the new pod; the old pod's
connections are closed, so an answer still streaming from it ends (as an error, for its client).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kaitoctl.core import conditions as cond
from kaitoctl.core.errors import InvalidInput, KaitoctlError, OperationFailed
from kaitoctl.ops import cluster
from kaitoctl.ops.chat import SERVER_PORT, find_workspace, ready_pod
from kaitoctl.ops.interfaces import KubeApi

if TYPE_CHECKING:
    import httpx

    from kaitoctl.adapters.portforward import LocalForward
    from kaitoctl.adapters.proxy import ProxyServer

log = logging.getLogger("kaitoctl.endpoint")

DEFAULT_PORT = 8000  # vLLM's own OpenAI server port: tools set up for a local vLLM work unchanged
RECONNECT_WAIT_S = 120.0  # how long a request waits for the workspace to be ready again before it gets 503
POLL_S = 1.0
WATCH_S = 2.0  # how often the serving pod is looked at (one GET)


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def resolve_pod(kube: KubeApi, namespace: str, workspace: str | None) -> tuple[str, Pod]:
    """(workspace name, its ready serving pod) now, or a KaitoctlError saying why not."""
    status = find_workspace(kube, namespace, workspace)
    name = ready_pod(status)
    uid = next((p["metadata"].get("uid", "") for p in status.pods if p["metadata"]["name"] == name), "")
    return status.name, Pod(namespace, name, uid)


def wait_for_pod(
    resolve: Callable[[], tuple[str, Pod]],
    *,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Pod:
    """The ready pod, polling while the workspace is not ready (a pod restarting) until `timeout_s`."""
    deadline = clock() + timeout_s
    while True:
        try:
            return resolve()[1]
        except KaitoctlError as error:
            if clock() >= deadline:
                raise OperationFailed(
                    f"the workspace has no ready pod to forward to: {error.message}",
                    reason="NotReady",
                    hint="`kaitoctl status` shows why; the endpoint keeps trying on the next request",
                ) from None
        sleep(POLL_S)


def pod_problem(kube: KubeApi, pod: Pod) -> str | None:
    """Why `pod` no longer serves (deleted, replaced, being deleted, not ready), or None while it does."""
    from kaitoctl.adapters.k8s import resource_path

    found = kube.get(resource_path("v1", "Pod", pod.namespace, pod.name))
    if found is None:
        return "it was deleted"
    meta = found.get("metadata") or {}
    if meta.get("uid") != pod.uid:
        return "it was replaced"
    if meta.get("deletionTimestamp"):
        return "it is being deleted"
    if not cond.pod_ready(found):
        return "it is not ready"
    return None


class PodUpstream:
    """An httpx client for the model server in the current ready pod; `reconnect` moves it to the next one."""

    def __init__(
        self,
        kube: Any,
        namespace: str,
        workspace: str,
        pod: Pod,
        *,
        on_event: Callable[[str], None],
        reconnect_wait_s: float = RECONNECT_WAIT_S,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.workspace = workspace
        self.on_event = on_event
        self.reconnect_wait_s = reconnect_wait_s
        self.lock = threading.Lock()
        self.generation = 0
        self.pod = pod
        self._forward, self._client = self._connect(pod)
        self.stopped = threading.Event()

    def watch(self, interval_s: float = WATCH_S) -> None:
        """Look at the serving pod every `interval_s` in a daemon thread; reconnect when it is no longer serving."""
        threading.Thread(target=self._watch, args=(interval_s,), name="endpoint-watch", daemon=True).start()

    def _watch(self, interval_s: float) -> None:
        while not self.stopped.wait(interval_s):
            generation, pod = self.generation, self.pod
            try:
                problem = pod_problem(self.kube, pod)
                if problem is not None:
                    self.reconnect(generation, problem)
            except KaitoctlError as error:  # the API server unreachable, no ready pod yet: look again later
                log.info("endpoint: %s", error.message)

    def _connect(self, pod: Pod) -> tuple[LocalForward, httpx.Client]:
        import httpx

        from kaitoctl.adapters.chat import TIMEOUT
        from kaitoctl.adapters.portforward import LocalForward

        forward = LocalForward(self.kube, pod.namespace, pod.name, SERVER_PORT).__enter__()
        # Small writes (the request's head, then its body) leave at once: no Nagle wait on the loopback hop.
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        client = httpx.Client(base_url=forward.url, timeout=TIMEOUT, transport=transport)
        for name in ("accept", "accept-encoding", "user-agent"):  # the caller's own headers go through, not httpx's
            del client.headers[name]
        return forward, client

    def client(self) -> tuple[int, httpx.Client]:
        with self.lock:
            return self.generation, self._client

    def reconnect(self, generation: int, cause: str) -> None:
        with self.lock:  # requests failing together wait for one reconnection
            if generation != self.generation or self.stopped.is_set():
                return
            log.info("pod %s: %s; waiting for a ready pod of workspace %s", self.pod, cause, self.workspace)
            pod = wait_for_pod(
                lambda: resolve_pod(self.kube, self.namespace, self.workspace),
                timeout_s=self.reconnect_wait_s,
                sleep=self._sleep,
            )
            if pod == self.pod:
                return  # the same pod, ready: the failure was not its end; the request is retried as it is
            old = (self._forward, self._client)
            self._forward, self._client = self._connect(pod)
            self.generation += 1
            what = "restarted" if pod.name == self.pod.name else f"was replaced by {pod.name}"
            self.on_event(f"pod {self.pod} {what} ({cause}); forwarding to {pod}:{SERVER_PORT}")
            self.pod = pod
        # Answers still streaming from the old pod end with it.
        old[1].close()
        old[0].close()

    def _sleep(self, seconds: float) -> None:
        if self.stopped.wait(seconds):  # Ctrl-C: a request waiting for a pod stops waiting
            raise OperationFailed("the endpoint is stopping", reason="Stopping")

    def close(self) -> None:
        """Stop at once, also while a reconnection waits for a pod (it holds the lock until it sees `stopped`)."""
        self.stopped.set()
        locked = self.lock.acquire(timeout=POLL_S * 2)
        try:
            self._client.close()
            self._forward.close()
        finally:
            if locked:
                self.lock.release()


@dataclass
class Endpoint:
    server: ProxyServer
    upstream: PodUpstream
    workspace: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1"


def open_endpoint(
    stack: ExitStack,
    *,
    kubeconfig: Any,
    context: str | None,
    namespace: str | None,
    workspace: str | None,
    port: int,
    on_event: Callable[[str], None],
    reconnect_wait_s: float = RECONNECT_WAIT_S,
) -> Endpoint:
    """Bind 127.0.0.1:port (a port in use fails before any cluster call), find the workspace's ready pod, and
    return the endpoint ready to serve."""
    from kaitoctl.adapters.proxy import ProxyServer

    try:
        server = ProxyServer(port)
    except OSError as exc:
        raise InvalidInput(
            "--port", f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", "pass another --port, or 0 for any"
        ) from None
    stack.callback(server.server_close)
    kube = cluster.connect(kubeconfig, context)
    ns = cluster.resolve_namespace(kube, namespace)
    name, pod = resolve_pod(kube, ns, workspace)
    upstream = PodUpstream(kube, ns, name, pod, on_event=on_event, reconnect_wait_s=reconnect_wait_s)
    stack.callback(upstream.close)
    upstream.watch()
    server.upstream = upstream
    return Endpoint(server, upstream, name)
