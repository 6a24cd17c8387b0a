"""A local TCP port that reaches a pod's port through the Kubernetes API (WebSocket port-forward, no kubectl).

Each accepted local connection gets its own port-forward stream, like `kubectl port-forward`; bytes are pumped
both ways by two threads. The first stream is opened eagerly so a refusal (pod not running, RBAC) surfaces as a
clear error before any HTTP request is made.

Streams are opened in the connection's own thread (many clients connecting at once, as `kaitoctl endpoint` sees
them, do not queue behind one another's WebSocket handshakes), each through its own ApiClient: kubernetes.stream
swaps `api_client.request` for the duration of a call, which is not safe with two calls on one client at once
(kubernetes/stream/stream.py, `_websocket_request`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward

from kaitoctl.adapters.k8s import Kube
from kaitoctl.core.errors import OperationFailed


class LocalForward:
    def __init__(self, kube: Kube, namespace: str, pod: str, port: int) -> None:
        self.kube = kube
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.local_port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.errors: list[str] = []
        self._spare: Any = None
        self._lock = threading.Lock()
        self._open_sockets: set[socket.socket] = set()
        self._answers: list[threading.Thread] = []  # pod -> client pumps (refusal() waits for them)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def _open(self) -> Any:
        api = k8s_client.CoreV1Api(k8s_client.ApiClient(self.kube.configuration))
        try:
            return portforward(
                api.connect_get_namespaced_pod_portforward, self.pod, self.namespace, ports=str(self.port)
            )
        except (ApiException, OSError) as exc:  # the library reports every refusal as ApiException(status=0)
            reason = getattr(exc, "reason", None) or getattr(exc, "body", None) or str(exc)
            raise OperationFailed(
                f"port-forward to {self.namespace}/{self.pod}:{self.port} failed: {reason}",
                reason="PortForwardFailed",
                hint="check that the pod is Running and that you may create pods/portforward (RBAC); "
                "or pass --endpoint URL",
            ) from None

    def __enter__(self) -> LocalForward:
        self._spare = self._open()  # fail fast; also serves the first connection
        threading.Thread(target=self._accept, name="port-forward", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and end every open stream: a socket's close() does not wake a thread blocked reading it,
        shutdown() does, so the streams' readers (ours and the HTTP clients on the other end) see the end at once."""
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        if self._spare is not None:
            self._spare.close()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            # small writes (one SSE event each) go out at once, not after the peer's delayed ACK (Nagle)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            spare, self._spare = self._spare, None
            threading.Thread(target=self._connect, args=(conn, spare), daemon=True).start()

    def _connect(self, conn: socket.socket, forward: Any) -> None:
        with self._lock:
            self._open_sockets.add(conn)
        try:
            if forward is None:
                forward = self._open()
        except OperationFailed as exc:
            self.errors.append(exc.message)
            self._forget(conn)
            conn.close()
            return
        remote = forward.socket(self.port)
        remote.setblocking(True)
        answer = threading.Thread(
            target=self._pump, args=(remote, conn, forward), kwargs={"on_silent_end": self._refused}, daemon=True
        )
        self._answers.append(answer)
        answer.start()
        try:
            self._pump(conn, remote, forward)
        finally:
            self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._open_sockets.discard(conn)

    def _refused(self, forward: Any) -> None:
        """The pod's side ended before a single byte came back: the pod refused the connection (nothing listens on
        the port yet, or any more). The kubelet says why on the stream's error channel (kubernetes.stream keeps it
        as `error(port)`), e.g. "... dial tcp4 127.0.0.1:5000: connect: connection refused"."""
        try:
            said = " ".join(str(forward.error(self.port) or "").split())
        except (ValueError, AttributeError):
            said = ""
        self.errors.append(
            f"port-forward to {self.namespace}/{self.pod}:{self.port} reached the pod, but nothing answered on port "
            f"{self.port}" + (f" ({said[:300]})" if said else " (the stream closed before any answer)")
        )

    def refusal(self, workspace: str) -> OperationFailed | None:
        """The last refusal as the error to show instead of the HTTP client's "Server disconnected", or None.
        Called after the client's connection failed: its answering pump is ending (the client may have seen its
        socket close from the other pump first), so wait a moment for it to say why."""
        for answer in list(self._answers):
            answer.join(timeout=1.0)
        if not self.errors:
            return None
        return OperationFailed(
            self.errors[-1],
            reason="PortForwardRefused",
            hint="the model server in the pod is not listening (still starting, or it exited): see "
            f"`kaitoctl logs {workspace}` and `kaitoctl status {workspace}`, then retry",
        )

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, forward: Any, on_silent_end: Any = None) -> None:
        sent = False
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
                sent = True
        except OSError:
            pass
        finally:
            if not sent and on_silent_end is not None:
                on_silent_end(forward)  # before the shutdown below: the client reads the reason after its error
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):  # its socket pair may be closed already
                forward.close()
